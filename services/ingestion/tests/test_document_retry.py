"""Retrying a failed document (POST /api/v1/document/{id}/retry) on the real ingestion app and worker
(in this process), with PostgreSQL + pgvector, NATS JetStream and Redis from the embedded stack."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from knowrithm_common.events import new_event
from knowrithm_common.events.agents import AgentUpdatedV1
from knowrithm_ingestion.models import Document
from knowrithm_ingestion.testing import samples

from .support import add_agent, admin, agent_snapshot, apply_agent_event, member, unique, upload, wait_for


async def settled(call, principal, document_id, *, task_id=None):
    async def check():
        body = (await call("GET", f"/api/v1/document/{document_id}", principal)).json()
        if task_id is not None and body["task_id"] != task_id:
            return None
        return body if body["status"] in ("processed", "failed") else None

    return await wait_for(check, timeout=60)


async def test_a_document_failed_for_missing_settings_is_processed_once_retried(client, worker, call):
    company_id, agent_id = await add_agent(client.app, configured=False)
    boss = admin(company_id)
    r = await upload(call, boss, agent_id, [("owls.txt", unique("Owls nest in old barns").encode(), "text/plain")])
    document_id = r.json()["documents"][0]["id"]
    failed = await settled(call, boss, document_id)
    assert failed["status"] == "failed" and failed["error_code"] == "agent_not_configured", failed

    snapshot = agent_snapshot(company_id=company_id, agent_id=agent_id)  # the admin adds the settings
    update = new_event(AgentUpdatedV1(**snapshot.model_dump()), source="agents", company_id=company_id)
    async with client.app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, update)

    r = await call("POST", f"/api/v1/document/{document_id}/retry", boss)
    assert r.status_code == 202, r.text
    ack = r.json()
    assert ack["document_id"] == document_id and ack["status"] == "pending" and ack["task_id"] != failed["task_id"]
    final = await settled(call, boss, document_id, task_id=ack["task_id"])
    assert final["status"] == "processed" and final["chunk_count"] == 1, final
    assert final["processing_error"] is None and final["error_code"] is None
    task = (await call("GET", ack["status_url"], boss)).json()
    assert task["status"] == "completed" and task["progress"] == 100, task

    r = await call("POST", f"/api/v1/document/{document_id}/retry", boss)
    assert r.status_code == 409 and r.json()["error"] == "document_not_failed", r.text


async def test_a_corrupt_file_retried_fails_again_with_its_reason(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    r = await upload(call, boss, agent_id, [("broken.pdf", samples.make_corrupt_pdf(), "application/pdf")])
    document_id = r.json()["documents"][0]["id"]
    first = await settled(call, boss, document_id)
    assert first["status"] == "failed" and first["processing_error"], first

    r = await call("POST", f"/api/v1/document/{document_id}/retry", boss)
    assert r.status_code == 202, r.text
    pending = (await call("GET", f"/api/v1/document/{document_id}", boss)).json()
    assert pending["task_id"] == r.json()["task_id"]
    again = await settled(call, boss, document_id, task_id=r.json()["task_id"])
    assert again["status"] == "failed" and again["processing_error"] == first["processing_error"], again


async def test_retry_is_for_admins_of_the_documents_company(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    r = await upload(call, boss, agent_id, [("broken.pdf", samples.make_corrupt_pdf(), "application/pdf")])
    document_id = r.json()["documents"][0]["id"]
    await settled(call, boss, document_id)

    stranger = await call("POST", f"/api/v1/document/{document_id}/retry", admin(uuid.uuid4()))
    assert stranger.status_code == 404 and stranger.json()["error"] == "document_not_found", stranger.text
    assert (await call("POST", f"/api/v1/document/{document_id}/retry", member(company_id))).status_code == 403
    assert (await call("POST", f"/api/v1/document/{uuid.uuid4()}/retry", boss)).status_code == 404
    assert (await call("DELETE", f"/api/v1/document/{document_id}", boss)).status_code == 200
    gone = await call("POST", f"/api/v1/document/{document_id}/retry", boss)
    assert gone.status_code == 404, gone.text


async def test_a_failed_document_whose_file_is_gone_answers_409(client, worker, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    r = await upload(call, boss, agent_id, [("broken.pdf", samples.make_corrupt_pdf(), "application/pdf")])
    document_id = r.json()["documents"][0]["id"]
    failed = await settled(call, boss, document_id)
    async with client.app.state.db.sessions() as session:
        key = await session.scalar(select(Document.blob_key).where(Document.id == uuid.UUID(document_id)))
    await worker.state.deps.blobs.delete(key)

    r = await call("POST", f"/api/v1/document/{document_id}/retry", boss)
    assert r.status_code == 409 and r.json()["error"] == "document_file_missing", r.text
    after = (await call("GET", f"/api/v1/document/{document_id}", boss)).json()
    assert after["status"] == "failed" and after["task_id"] == failed["task_id"], after
