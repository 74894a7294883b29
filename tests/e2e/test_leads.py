"""Leads through the gateway with the offline responder: a widget visitor registers publicly,
chats with its lead token and rates the answer; another visitor's token reaches none of it;
the company's admin follows the leads, exports one (GDPR) and erases it, ending its token."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from .knowledge import trained_agent, upload, wait_documents

pytestmark = pytest.mark.e2e


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(gateway, agent_id: str, first_name: str, timeout: float = 20) -> dict:
    """Register a visitor, waiting until conversations has heard of the new agent."""
    body = {"agent_id": agent_id, "first_name": first_name, "last_name": "Visitor",
            "email": f"{first_name.lower()}.{uuid.uuid4().hex[:6]}@example.com", "consent_data_processing": True,
            "source": "e2e"}
    deadline = time.monotonic() + timeout
    while (r := await gateway.post("/api/v1/lead/register", json=body)).status_code == 404:
        assert time.monotonic() < deadline, r.text
        await asyncio.sleep(0.2)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
async def shop(gateway):
    """A company whose agent knows one fact, from a processed text document."""
    account, agent_id = await trained_agent(gateway)
    tag = uuid.uuid4().hex[:6]
    fact = f"Orders placed before noon ship the same day from warehouse {tag}."
    r = await upload(gateway, account, agent_id, [("shipping.txt", fact.encode(), "text/plain")])
    assert r.status_code == 202, r.text
    await wait_documents(gateway, account, [r.json()["documents"][0]["id"]])
    return account, agent_id, tag


async def test_a_visitor_chats_with_its_lead_token_and_nobody_elses_token_reaches_it(gateway, shop):
    account, agent_id, tag = shop
    ada = await register(gateway, agent_id, "Ada")
    conversation_id = ada["conversation"]["id"]
    r = await gateway.post(f"/api/v1/conversation/{conversation_id}/chat?wait=true",
                           json={"message": f"When do orders ship from warehouse {tag}?"},
                           headers=bearer(ada["lead_token"]), timeout=60)
    assert r.status_code == 200, r.text
    answer = r.json()["message"]
    assert "same day" in answer["content"] and answer["citations"], answer
    r = await gateway.post(f"/api/v1/message/{answer['id']}/feedback", json={"thumbs": "up"},
                           headers=bearer(ada["lead_token"]))
    assert r.status_code == 201, r.text
    mine = await gateway.get("/api/v1/conversation/entity", headers=bearer(ada["lead_token"]))
    assert [c["id"] for c in mine.json()["conversations"]] == [conversation_id]

    bob = await register(gateway, agent_id, "Bob")
    for path in (f"/api/v1/conversation/{conversation_id}", f"/api/v1/conversation/{conversation_id}/messages",
                 f"/api/v1/conversation/{conversation_id}/messages/stream"):
        r = await gateway.get(path, headers=bearer(bob["lead_token"]))
        assert r.status_code == 404, (path, r.text)
    r = await gateway.post(f"/api/v1/conversation/{conversation_id}/chat", json={"message": "hi"},
                           headers=bearer(bob["lead_token"]))
    assert r.status_code == 404
    r = await gateway.get("/api/v1/lead/company", headers=bearer(ada["lead_token"]))
    assert r.status_code == 403 and r.json()["error"] == "lead_not_allowed"

    leads = (await gateway.get("/api/v1/lead/company", headers=account.auth)).json()["data"]["leads"]
    assert {lead["id"] for lead in leads} == {ada["lead"]["id"], bob["lead"]["id"]}
    r = await gateway.put(f"/api/v1/lead/{ada['lead']['id']}", json={"status": "converted"}, headers=account.auth)
    assert r.status_code == 200 and r.json()["lead"]["converted_at"], r.text


async def test_an_erased_lead_leaves_nothing_behind_and_its_token_is_refused(gateway, shop):
    account, agent_id, tag = shop
    ada = await register(gateway, agent_id, "Ada")
    lead_id, conversation_id = ada["lead"]["id"], ada["conversation"]["id"]
    r = await gateway.post(f"/api/v1/conversation/{conversation_id}/chat?wait=true",
                           json={"message": f"What about warehouse {tag}?"}, headers=bearer(ada["lead_token"]),
                           timeout=60)
    assert r.status_code == 200, r.text

    r = await gateway.get(f"/api/v1/lead/{lead_id}/export", headers=account.auth)
    assert r.status_code == 200, r.text
    export = r.json()
    assert export["lead"]["email"] == ada["lead"]["email"]
    (conversation,) = export["conversations"]
    assert conversation["id"] == conversation_id
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant"]

    r = await gateway.delete(f"/api/v1/lead/{lead_id}/data", headers=account.auth)
    assert r.status_code == 200 and r.json()["deleted_conversations"] == 1, r.text
    assert r.json()["deleted_messages"] == 2
    assert (await gateway.get(f"/api/v1/lead/{lead_id}/export", headers=account.auth)).status_code == 404
    r = await gateway.get(f"/api/v1/conversation/{conversation_id}", headers=account.auth)
    assert r.status_code == 404
    r = await gateway.get("/api/v1/conversation/entity", headers=bearer(ada["lead_token"]))
    assert r.status_code == 401, r.text
