"""Documents, chunks and search on the real ingestion app and worker (in this process), with
PostgreSQL + pgvector, NATS JetStream and Redis from the embedded stack."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from knowrithm_common.events import new_event
from knowrithm_common.events.ingestion import ProcessDocument
from knowrithm_common.messaging.jobs import JobContext
from knowrithm_common.messaging.rpc import call as rpc_call
from knowrithm_common.queries import INGESTION_SEARCH_SUBJECT, SearchReply, SearchRequest
from knowrithm_ingestion.models import Chunk
from knowrithm_ingestion.pipeline.process import process_document
from knowrithm_ingestion.testing import samples

from .support import add_agent, admin, delete_agent, member, unique, upload, wait_for


async def processed(call, principal, document_id):
    async def check():
        r = await call("GET", f"/api/v1/document/{document_id}", principal)
        return r.json() if r.json()["status"] in ("processed", "failed") else None

    return await wait_for(check, timeout=60)


async def found(call, principal, query, agent_id=None):
    body = {"query": query, **({"agent_id": str(agent_id)} if agent_id else {})}
    r = await call("POST", "/api/v1/search/document", principal, json=body)
    assert r.status_code == 200, r.text
    return r.json()["results"]


async def test_uploaded_text_is_processed_with_task_progress_and_found_by_search(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    fact = unique("Our refund window is forty-five days for the walrus plan")
    r = await upload(call, boss, agent_id, [("policy.txt", fact.encode(), "text/plain")])
    assert r.status_code == 202, r.text
    document = r.json()["documents"][0]
    assert document["status"] == "pending" and document["status_url"].endswith("/status")

    final = await processed(call, boss, document["id"])
    assert final["status"] == "processed" and final["chunk_count"] == 1 and final["word_count"] >= 10
    task = (await call("GET", f"/api/v1/tasks/{document['task_id']}/status", boss)).json()
    assert task["status"] == "completed" and task["progress"] == 100
    results = await found(call, member(company_id), fact, agent_id)
    assert results[0]["document_id"] == document["id"] and results[0]["document_name"] == "policy.txt"


async def upload_task(call, principal, body):
    async def check():
        task = (await call("GET", body["status_url"], principal)).json()
        return task if task["status"] in ("completed", "failed") else None

    assert body["status_url"] == f"/api/v1/tasks/{body['task_id']}/status"
    return await wait_for(check, timeout=60)


async def test_an_uploads_task_completes_with_its_documents_processed_or_failed(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    files = [("good.txt", unique("Otters hold hands while sleeping").encode(), "text/plain"),
             ("broken.pdf", samples.make_corrupt_pdf(), "application/pdf")]
    r = await upload(call, boss, agent_id, files)
    assert r.status_code == 202 and r.json()["status"] == "accepted", r.text
    task = await upload_task(call, boss, r.json())
    assert task["status"] == "completed" and task["progress"] == 100, task
    result = task["result"]
    states = {d["original_filename"]: (d["status"], d["chunk_count"]) for d in result["documents"]}
    assert states == {"good.txt": ("processed", 1), "broken.pdf": ("failed", None)}
    assert result["documents_processed"] == 1 and result["success"] is False
    assert result["errors"][0].startswith("broken.pdf: ")
    assert (await call("GET", r.json()["status_url"], admin(uuid.uuid4()))).status_code == 404


async def test_an_upload_whose_every_document_fails_has_a_failed_task_with_the_reasons(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    r = await upload(call, boss, agent_id, [("broken.pdf", samples.make_corrupt_pdf(), "application/pdf")])
    assert r.status_code == 202, r.text
    task = await upload_task(call, boss, r.json())
    assert task["status"] == "failed" and task["error"].startswith("broken.pdf: "), task
    assert task["result"] is None


async def test_processing_twice_gives_the_same_chunks(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    pages = [unique(f"Page {n} explains the pelican docking procedure in detail. " * 40) for n in range(6)]
    r = await upload(call, admin(company_id), agent_id, [("guide.pdf", samples.make_pdf(pages), "application/pdf")])
    document = r.json()["documents"][0]
    first = await processed(call, admin(company_id), document["id"])
    deps = worker.state.deps
    job = new_event(ProcessDocument(document_id=uuid.UUID(document["id"])), source="test", company_id=company_id)
    await process_document(deps, job, JobContext(attempt=2, max_attempts=5))
    async with deps.db.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Chunk).where(
            Chunk.document_id == uuid.UUID(document["id"])))
    assert count == first["chunk_count"] > 6
    assert await deps.store.count(company_id, document_id=uuid.UUID(document["id"])) == count


async def test_delete_restore_and_chunk_lifecycle_follow_search(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    fact = unique("The heron archive opens at nine")
    r = await upload(call, boss, agent_id, [("hours.txt", fact.encode(), "text/plain")])
    doc_id = r.json()["documents"][0]["id"]
    await processed(call, boss, doc_id)

    r = await call("DELETE", "/api/v1/document/bulk-delete", boss, json={"document_ids": [doc_id]})
    assert r.status_code == 200 and r.json()["deleted_documents_count"] == 1
    assert await found(call, boss, fact, agent_id) == []
    deleted_chunks = (await call("GET", "/api/v1/document/chunk/deleted", boss)).json()["deleted_chunks"]
    assert len(deleted_chunks) == 1
    r = await call("PATCH", f"/api/v1/document/chunk/{deleted_chunks[0]['id']}/restore", boss)
    assert r.status_code == 400 and r.json()["error"] == "document_deleted"
    assert (await call("PATCH", f"/api/v1/document/{doc_id}/restore", boss)).json()["restored_chunks_count"] == 1
    assert (await found(call, boss, fact, agent_id))[0]["document_id"] == doc_id

    r = await call("DELETE", f"/api/v1/document/{doc_id}/chunk", boss)
    assert r.json()["deleted_chunks_count"] == 1
    assert await found(call, boss, fact, agent_id) == []
    assert (await call("PATCH", f"/api/v1/document/{doc_id}/chunk/restore-all", boss)).json()[
        "restored_chunks_count"] == 1
    assert (await found(call, boss, fact, agent_id))[0]["document_id"] == doc_id


async def test_other_company_gets_404_and_finds_nothing(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    other_company, _ = await add_agent(client.app)
    fact = unique("The lynx vault code is private")
    r = await upload(call, admin(company_id), agent_id, [("vault.txt", fact.encode(), "text/plain")])
    doc_id = r.json()["documents"][0]["id"]
    await processed(call, admin(company_id), doc_id)
    intruder = admin(other_company)
    for method, path in [("GET", f"/api/v1/document/{doc_id}"), ("DELETE", f"/api/v1/document/{doc_id}"),
                         ("GET", f"/api/v1/document/{doc_id}/chunk"),
                         ("GET", f"/api/v1/document/agent/{agent_id}")]:
        assert (await call(method, path, intruder)).status_code == 404, path
    assert await found(call, intruder, fact) == []
    assert (await call("GET", "/api/v1/document", intruder)).json()["pagination"]["total"] == 0


async def test_search_rpc_answers_for_conversations(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    fact = unique("Parcels to Oslo leave from gate seven")
    r = await upload(call, admin(company_id), agent_id, [("gates.txt", fact.encode(), "text/plain")])
    doc_id = r.json()["documents"][0]["id"]
    await processed(call, admin(company_id), doc_id)
    reply = await rpc_call(client.app.state.nats, INGESTION_SEARCH_SUBJECT,
                           SearchRequest(company_id=company_id, agent_id=agent_id, query=fact), SearchReply)
    assert str(reply.results[0].document_id) == doc_id and reply.results[0].content.startswith(fact[:20])
    other = await rpc_call(client.app.state.nats, INGESTION_SEARCH_SUBJECT,
                           SearchRequest(company_id=uuid.uuid4(), query=fact), SearchReply)
    assert other.results == []


async def test_a_new_embedding_model_re_embeds_the_agents_chunks(client, worker, call):
    from knowrithm_common.events.agents import AgentConfiguration, AgentUpdatedV1
    from knowrithm_ingestion.models import AgentView

    from .support import apply_agent_event

    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    fact = unique("Badger tents withstand strong gales")
    r = await upload(call, boss, agent_id, [("tents.txt", fact.encode(), "text/plain")])
    doc_id = r.json()["documents"][0]["id"]
    await processed(call, boss, doc_id)

    async with client.app.state.db.sessions() as session:
        view = await session.get(AgentView, agent_id)
    config = AgentConfiguration(
        settings_id=uuid.uuid4(), settings_level="agent", llm_provider_id=uuid.uuid4(), llm_provider="offline",
        llm_model_id=uuid.uuid4(), llm_model="extractive-responder", llm_api_base_url=None, llm_temperature=0.2,
        llm_max_tokens=512, embedding_provider_id=uuid.uuid4(), embedding_provider="offline",
        embedding_model_id=uuid.uuid4(), embedding_model="offline-embedder", embedding_api_base_url=None,
        embedding_dimension=256,
    )
    update = AgentUpdatedV1(agent_id=agent_id, company_id=company_id, name=view.name, status="active",
                            configuration=config, reembed_required=True)
    async with client.app.state.db.session() as session, session.begin():
        await apply_agent_event(session, new_event(update, source="agents", company_id=company_id))

    async def reembedded():
        async with client.app.state.db.sessions() as session:
            chunk = await session.scalar(select(Chunk).where(Chunk.document_id == uuid.UUID(doc_id)))
            return len(chunk.embedding) == 256

    await wait_for(reembedded, timeout=30)
    assert (await found(call, boss, fact, agent_id))[0]["document_id"] == doc_id


async def test_a_document_of_an_agent_without_embedding_settings_fails_as_not_configured(client, worker, call):
    company_id, agent_id = await add_agent(client.app, configured=False)
    boss = admin(company_id)
    r = await upload(call, boss, agent_id, [("owls.txt", unique("Owls nest in old barns").encode(), "text/plain")])
    assert r.status_code == 202, r.text
    final = await processed(call, boss, r.json()["documents"][0]["id"])
    assert final["status"] == "failed" and final["error_code"] == "agent_not_configured", final
    assert final["processing_error"] == "The agent has no embedding settings; add LLM and embedding settings first"


async def test_a_document_whose_agent_was_deleted_fails_as_agent_not_found(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    r = await upload(call, boss, agent_id, [("moths.txt", unique("Moths follow the moon").encode(), "text/plain")])
    document_id = uuid.UUID(r.json()["documents"][0]["id"])
    await processed(call, boss, document_id)
    await delete_agent(client.app, company_id=company_id, agent_id=agent_id)
    job = new_event(ProcessDocument(document_id=document_id), source="test", company_id=company_id)
    await process_document(worker.state.deps, job, JobContext(attempt=1, max_attempts=5))
    final = (await call("GET", f"/api/v1/document/{document_id}", boss)).json()
    assert final["status"] == "failed" and final["error_code"] == "agent_not_found", final
    assert final["processing_error"] == "The document's agent was deleted"


async def test_search_of_an_agent_without_embedding_settings_answers_409(client, call):
    """`agent_not_configured` is one error everywhere: 409, as conversations answers it (404 here before)."""
    company_id, agent_id = await add_agent(client.app, configured=False)
    r = await call("POST", "/api/v1/search/document", member(company_id),
                   json={"query": "owls", "agent_id": str(agent_id)})
    assert r.status_code == 409 and r.json()["error"] == "agent_not_configured", r.text
