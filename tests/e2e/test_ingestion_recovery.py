"""A worker killed in the middle of a 200-page PDF: the job comes back to the restarted worker
and the document completes with exactly the chunks (and vectors) a clean run gives."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from knowrithm_ingestion.testing import samples

from .knowledge import trained_agent, upload, wait_documents

pytestmark = pytest.mark.e2e

PAGE = ("Section {n}. The harbour authority inspects cranes, pallets and cold storage on schedule {n}; "
        "every finding is logged with the berth number and the inspector's initials. ") * 12


def long_pdf() -> bytes:
    """200 pages, four of them scanned: their OCR keeps the worker busy long enough to be killed."""
    return samples.make_pdf([PAGE.format(n=n) for n in range(1, 201)], scanned_pages={50, 100, 150, 199})


async def chunks_and_vectors(platform, document_id: str) -> tuple[list[tuple[int, str]], int]:
    async with await psycopg.AsyncConnection.connect(platform.env["DATABASE_URL"]) as conn:
        chunks = await (await conn.execute(
            "SELECT chunk_index, content_hash FROM ingestion.chunks WHERE document_id = %s ORDER BY chunk_index",
            (document_id,))).fetchall()
        (vectors,) = await (await conn.execute(
            "SELECT count(*) FROM ingestion.vectors WHERE document_id = %s", (document_id,))).fetchone()
    return [tuple(row) for row in chunks], vectors


async def wait_running(gateway, account, task_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = (await gateway.get(f"/api/v1/tasks/{task_id}/status", headers=account.auth)).json()
        if task["status"] == "running" and task["progress"] >= 5:
            return task
        assert task["status"] != "completed", "the document finished before the worker could be killed"
        await asyncio.sleep(0.02)
    raise AssertionError("processing never started")


async def test_killed_worker_resumes_and_leaves_no_duplicate_chunks(gateway, platform):
    account, agent_id = await trained_agent(gateway)
    pdf = long_pdf()

    r = await upload(gateway, account, agent_id, [("manual-crash.pdf", pdf, "application/pdf")])
    assert r.status_code == 202, r.text
    crashed = r.json()["documents"][0]["id"]
    task = await wait_running(gateway, account, r.json()["task_ids"][0])
    old_pid = platform.pid("ingestion-worker")
    platform.kill("ingestion-worker")
    state = (await gateway.get(f"/api/v1/document/{crashed}", headers=account.auth)).json()
    assert state["status"] == "processing", (task, state)
    await asyncio.to_thread(platform.wait_restarted, "ingestion-worker", old_pid, 60)

    done = await wait_documents(gateway, account, [crashed], timeout=240)
    assert done[crashed]["status"] == "processed", done[crashed]

    r = await upload(gateway, account, agent_id, [("manual-clean.pdf", pdf, "application/pdf")])
    clean = r.json()["documents"][0]["id"]
    done_clean = await wait_documents(gateway, account, [clean], timeout=240)
    assert done_clean[clean]["page_count"] == 200

    crashed_chunks, crashed_vectors = await chunks_and_vectors(platform, crashed)
    clean_chunks, clean_vectors = await chunks_and_vectors(platform, clean)
    assert crashed_chunks == clean_chunks and len(clean_chunks) == done_clean[clean]["chunk_count"]
    assert crashed_vectors == clean_vectors == len(clean_chunks)
