"""Uploads through the real ingestion app (no worker runs in this module, so what an upload
queued stays queued): per-file answers, the shared error shape, downloads of URLs, and the
validation of uploads and searches."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from knowrithm_common.testing import environment, gateway_call, running_app
from knowrithm_ingestion.testing import samples

from .sites import Site
from .support import add_agent, admin, idle_transactions, member, unique, upload, wait_for


async def test_upload_with_a_renamed_executable_answers_207_and_keeps_the_good_file(client, call):
    company_id, agent_id = await add_agent(client.app)
    files = [("ok.txt", b"Plain words about shipping.", "text/plain"),
             ("invoice.pdf", samples.make_windows_exe(), "application/pdf")]
    r = await upload(call, admin(company_id), agent_id, files)
    assert r.status_code == 207, r.text
    body = r.json()
    assert [d["original_filename"] for d in body["documents"]] == ["ok.txt"]
    assert body["failed"][0]["error"] == "unsupported_file_type" and body["failed"][0]["status_code"] == 415
    assert (await call("GET", body["status_url"], admin(company_id))).json()["status"] == "pending"


async def test_upload_errors_use_the_shared_shape(client, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    r = await call("POST", "/api/v1/document/upload", boss, data={"agent_id": str(agent_id)})
    assert r.status_code == 400 and r.json()["error"] == "no_files"
    r = await upload(call, boss, uuid.uuid4(), [("a.txt", b"x y z", "text/plain")])
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"
    r = await call("POST", "/api/v1/document/upload", boss, files=[("files", ("a.txt", b"x", "text/plain"))])
    assert r.status_code == 422 and r.json()["error"] == "agent_id_required"
    r = await upload(call, member(company_id), agent_id, [("a.txt", b"x y z", "text/plain")])
    assert r.status_code == 403


async def test_oversized_file_answers_413(ingestion_env, signer):
    from knowrithm_ingestion.main import create_app

    with environment({**ingestion_env, "MAX_FILE_SIZE": "1000"}):
        app = create_app()
    async with running_app(app) as c:  # an app of its own: it runs with another MAX_FILE_SIZE
        company_id, agent_id = await add_agent(app)
        r = await upload(gateway_call(c, signer), admin(company_id), agent_id,
                         [("big.txt", b"a " * 1000, "text/plain")])
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large", r.text


@pytest.mark.parametrize("path", ["/api/v1/document", "/api/v1/document/deleted"])
async def test_lists_need_credentials(client, path):
    r = await client.get(path)  # not through the gateway: no caller at all
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


@pytest.mark.parametrize("body", [{}, {"query": "   "}, {"query": "x", "limit": 51}, {"query": "x", "agent_id": "nope"}])
async def test_bad_search_requests_get_422(client, call, body):
    company_id, _ = await add_agent(client.app)
    r = await call("POST", "/api/v1/search/document", member(company_id), json=body)
    assert r.status_code == 422 and r.json()["success"] is False, r.text


async def test_urls_are_fetched_with_no_database_transaction_open(client, call):
    """A slow site holds the download: meanwhile no connection of the service waits idle in a
    transaction (the agent was found before, the documents are stored after)."""
    company_id, agent_id = await add_agent(client.app)
    fact = unique("Slow sites still teach the heron schedule")
    with Site("127.0.0.5") as site:
        gate = site.held("/schedule.txt", fact.encode(), content_type="text/plain")
        sent = time.time()
        answer = asyncio.create_task(call("POST", "/api/v1/document/upload", admin(company_id),
                                          json={"agent_id": str(agent_id), "url": site.url("/schedule.txt")}))

        async def fetching():
            return gate.arrived.is_set() or answer.done()

        await wait_for(fetching, timeout=30)
        assert gate.arrived_at is not None, (await answer).text
        held = await idle_transactions(client.app.state.db, begun_after=sent, idle_before=gate.arrived_at)
        gate.release.set()
        r = await answer
    assert held == []
    assert r.status_code == 202, r.text
    document = r.json()["documents"][0]
    assert document["source"] == "url" and document["source_url"] == site.url("/schedule.txt")
