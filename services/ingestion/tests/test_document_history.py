"""A document's processing history (GET /api/v1/document/{id}/history), reprocessing
(POST /api/v1/document/{id}/reprocess) and one chunk (GET /api/v1/document/chunk/{id}) on the real
ingestion app and worker (in this process), with PostgreSQL + pgvector, NATS JetStream and Redis."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, update

from knowrithm_common.events import new_event
from knowrithm_common.events.agents import AgentUpdatedV1
from knowrithm_ingestion.models import Document, DocumentEvent
from knowrithm_ingestion.testing import samples

from .support import add_agent, admin, agent_snapshot, apply_agent_event, member, unique, upload
from .test_document_retry import settled

PROCESSED_RUN = [("received", "queued"), ("processing", "started"), ("extracting", "completed"),
                 ("chunking", "completed"), ("embedding", "completed"), ("indexing", "completed"),
                 ("processed", "completed")]


def steps(history: dict, attempt: int | None = None) -> list[tuple[str, str]]:
    return [(e["stage"], e["status"]) for e in history["events"] if attempt is None or e["attempt"] == attempt]


async def processed_text(call, boss, agent_id, text: str) -> dict:
    r = await upload(call, boss, agent_id, [("notes.txt", text.encode(), "text/plain")])
    assert r.status_code == 202, r.text
    return await settled(call, boss, r.json()["documents"][0]["id"])


async def test_a_processed_documents_history_lists_each_stage_and_a_reprocess_adds_a_second_run(
    client, worker, call
):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    document = await processed_text(call, boss, agent_id, unique("Herons fish at dawn in the shallow reeds"))
    assert document["status"] == "processed", document

    r = await call("GET", f"/api/v1/document/{document['id']}/history", member(company_id))
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["document_id"], first["status"], first["attempts"], first["recorded"]) == (
        document["id"], "processed", 1, True)
    assert steps(first) == PROCESSED_RUN, first
    events = {e["stage"]: e for e in first["events"]}
    assert events["extracting"]["detail"].startswith("1 page, ") and events["chunking"]["detail"] == "1 chunk"
    assert events["embedding"]["detail"] == "offline-embedder"
    assert all(e["duration_ms"] is not None and e["duration_ms"] >= 0 for e in first["events"][2:]), first
    assert [e["at"] for e in first["events"]] == sorted(e["at"] for e in first["events"])

    r = await call("POST", f"/api/v1/document/{document['id']}/reprocess", boss)
    assert r.status_code == 202, r.text
    busy = await call("POST", f"/api/v1/document/{document['id']}/reprocess", boss)
    assert busy.status_code == 409 and busy.json()["error"] == "document_processing", busy.text
    again = await settled(call, boss, document["id"], task_id=r.json()["task_id"])
    assert again["status"] == "processed" and again["chunk_count"] == 1, again

    second = (await call("GET", f"/api/v1/document/{document['id']}/history", boss)).json()
    assert second["attempts"] == 2 and steps(second, 1) == PROCESSED_RUN, second
    assert steps(second, 2) == [("reprocess", "queued"), *PROCESSED_RUN[1:]], second
    chunks = (await call("GET", f"/api/v1/document/{document['id']}/chunk", boss)).json()["chunks"]
    assert len(chunks) == 1  # replaced, not added to


async def test_a_failed_documents_history_shows_the_failed_stage_with_its_reason(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    r = await upload(call, boss, agent_id, [("broken.pdf", samples.make_corrupt_pdf(), "application/pdf")])
    failed = await settled(call, boss, r.json()["documents"][0]["id"])
    assert failed["status"] == "failed", failed

    history = (await call("GET", f"/api/v1/document/{failed['id']}/history", boss)).json()
    assert history["status"] == "failed" and history["attempts"] == 1, history
    assert steps(history) == [("received", "queued"), ("processing", "started"), ("extracting", "failed")]
    last = history["events"][-1]
    assert last["reason"] == failed["processing_error"] and last["code"] == failed["error_code"], last

    r = await call("POST", f"/api/v1/document/{failed['id']}/reprocess", boss)
    assert r.status_code == 202, r.text
    await settled(call, boss, failed["id"], task_id=r.json()["task_id"])
    history = (await call("GET", f"/api/v1/document/{failed['id']}/history", boss)).json()
    assert history["attempts"] == 2 and steps(history, 2) == [
        ("reprocess", "queued"), ("processing", "started"), ("extracting", "failed")], history


async def test_a_failed_document_fixed_by_its_settings_is_processed_when_reprocessed(client, worker, call):
    company_id, agent_id = await add_agent(client.app, configured=False)
    boss = admin(company_id)
    failed = await processed_text(call, boss, agent_id, unique("Kestrels hover above the motorway verge"))
    history = (await call("GET", f"/api/v1/document/{failed['id']}/history", boss)).json()
    assert steps(history)[-1] == ("embedding", "failed") and history["events"][-1]["code"] == "agent_not_configured"

    snapshot = agent_snapshot(company_id=company_id, agent_id=agent_id)  # the admin adds the settings
    update_event = new_event(AgentUpdatedV1(**snapshot.model_dump()), source="agents", company_id=company_id)
    async with client.app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, update_event)
    r = await call("POST", f"/api/v1/document/{failed['id']}/reprocess", boss)
    assert r.status_code == 202, r.text
    final = await settled(call, boss, failed["id"], task_id=r.json()["task_id"])
    assert final["status"] == "processed" and final["processing_error"] is None, final
    history = (await call("GET", f"/api/v1/document/{failed['id']}/history", boss)).json()
    assert history["attempts"] == 2 and steps(history, 2) == [("reprocess", "queued"), *PROCESSED_RUN[1:]]


async def test_a_document_from_before_the_history_answers_what_its_row_knows(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    document = await processed_text(call, boss, agent_id, unique("Otters play in the mill race"))
    async with client.app.state.db.sessions() as session, session.begin():  # as before migration 0009
        await session.execute(delete(DocumentEvent).where(DocumentEvent.document_id == uuid.UUID(document["id"])))
        await session.execute(update(Document).where(Document.id == uuid.UUID(document["id"])).values(attempts=1))

    r = await call("GET", f"/api/v1/document/{document['id']}/history", boss)
    assert r.status_code == 200, r.text
    history = r.json()
    assert history["recorded"] is False and history["attempts"] == 1, history
    assert steps(history) == [("received", "queued"), ("processing", "started"), ("processed", "completed")]
    assert history["events"][-1]["duration_ms"] >= 0


async def test_one_chunk_answers_its_text_page_position_and_document(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    text = unique("Badgers dig their setts under beech roots")
    document = await processed_text(call, boss, agent_id, text)
    [chunk] = (await call("GET", f"/api/v1/document/{document['id']}/chunk", boss)).json()["chunks"]

    r = await call("GET", f"/api/v1/document/chunk/{chunk['id']}", member(company_id))
    assert r.status_code == 200, r.text
    one = r.json()
    assert (one["id"], one["document_id"], one["document_name"], one["position"], one["deleted"]) == (
        chunk["id"], document["id"], "notes.txt", 1, False)
    assert one["content"] == text and one["page"] == chunk["page"]

    assert (await call("DELETE", f"/api/v1/document/chunk/{chunk['id']}", boss)).status_code == 200
    gone = (await call("GET", f"/api/v1/document/chunk/{chunk['id']}", boss)).json()
    assert gone["deleted"] is True and gone["is_active"] is False, gone


async def test_another_companys_ids_answer_404_and_members_cannot_reprocess(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    document = await processed_text(call, boss, agent_id, unique("Voles run under the hedge"))
    [chunk] = (await call("GET", f"/api/v1/document/{document['id']}/chunk", boss)).json()["chunks"]
    stranger = admin(uuid.uuid4())

    for method, path in (("GET", f"/api/v1/document/{document['id']}/history"),
                         ("GET", f"/api/v1/document/chunk/{chunk['id']}"),
                         ("POST", f"/api/v1/document/{document['id']}/reprocess"),
                         ("GET", f"/api/v1/document/{uuid.uuid4()}/history"),
                         ("GET", f"/api/v1/document/chunk/{uuid.uuid4()}")):
        r = await call(method, path, stranger)
        assert r.status_code == 404 and r.json()["success"] is False, (path, r.text)
    assert (await call("POST", f"/api/v1/document/{document['id']}/reprocess", member(company_id))).status_code == 403
    bad = await call("GET", "/api/v1/document/chunk/not-a-uuid", boss)
    assert bad.status_code in (400, 422) and bad.json()["success"] is False, bad.text
