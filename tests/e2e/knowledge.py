"""Knowledge helpers for end-to-end tests: an agent to train, uploads, waiting for processing."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from .accounts import Account, offline_settings, sign_up


async def trained_agent(gateway: httpx.AsyncClient) -> tuple[Account, str]:
    """A new company whose default settings use the offline provider, and one agent."""
    account = await sign_up(gateway)
    await offline_settings(gateway, account, is_default=True)
    r = await gateway.post("/api/v1/agent", json={"name": f"Docs {uuid.uuid4().hex[:6]}"}, headers=account.auth)
    assert r.status_code == 201, r.text
    return account, r.json()["id"]


async def upload(gateway: httpx.AsyncClient, account: Account, agent_id: str,
                 files: list[tuple[str, bytes, str]], timeout: float = 60) -> httpx.Response:
    multipart = [("files", (name, data, ctype)) for name, data, ctype in files]
    return await gateway.post("/api/v1/document/upload", data={"agent_id": agent_id}, files=multipart,
                              headers=account.auth, timeout=timeout)


async def wait_documents(gateway: httpx.AsyncClient, account: Account, ids: list[str], *,
                         timeout: float = 180) -> dict[str, dict[str, Any]]:
    """Wait until every document is processed or failed; their final state by id."""
    deadline = time.monotonic() + timeout
    pending = set(ids)
    done: dict[str, dict[str, Any]] = {}
    while pending and time.monotonic() < deadline:
        for document_id in list(pending):
            r = await gateway.get(f"/api/v1/document/{document_id}", headers=account.auth)
            assert r.status_code == 200, r.text
            if r.json()["status"] in ("processed", "failed"):
                done[document_id] = r.json()
                pending.discard(document_id)
        await asyncio.sleep(0.5)
    assert not pending, f"still processing after {timeout}s: {pending}"
    return done


async def search(gateway: httpx.AsyncClient, account: Account, query: str, agent_id: str | None = None,
                 **extra: Any) -> list[dict[str, Any]]:
    body = {"query": query, **({"agent_id": agent_id} if agent_id else {}), **extra}
    r = await gateway.post("/api/v1/search/document", json=body, headers=account.auth)
    assert r.status_code == 200, r.text
    return r.json()["results"]
