"""The "no answer" flag on answers (`metadata.answer_found`) and the knowledge gaps report, on
the real conversations app and answer pipeline (offline model), with ingestion's search stood in
for on the real NATS (chat_support.py)."""

from __future__ import annotations

import uuid

import pytest

from knowrithm_common.llm.offline import DONT_KNOW

from .chat_support import final_task, new_conversation, sse_events
from .support import add_agent, admin, member

FACT = "The night shift loads refrigerated trucks at dock 7 after midnight."
KNOWN = "When are refrigerated trucks loaded at dock 7?"
UNKNOWN = "What is the refund policy for damaged parcels?"
GAPS = "/api/v1/conversation/knowledge-gaps"


async def asked(call, principal, agent_id, question: str) -> dict:
    """A new conversation with one question, once its answer is final: the answer."""
    conversation_id = await new_conversation(call, principal, agent_id)
    r = await call("POST", f"/api/v1/conversation/{conversation_id}/chat", principal, json={"message": question})
    assert r.status_code == 202, r.text
    task = await final_task(call, principal, r.json())
    assert task["status"] == "completed", task
    return task["result"]


@pytest.fixture
async def trained(client, knowledge):
    company_id, agent_id = await add_agent(client.app, name="Dock helper")
    knowledge.passages[agent_id] = [FACT]
    return company_id, agent_id


async def test_answers_say_whether_the_agent_found_an_answer(client, call, trained, knowledge):
    company_id, agent_id = trained
    alice = member(company_id)
    known = await asked(call, alice, agent_id, KNOWN)
    assert known["metadata"]["answer_found"] is True and known["citations"], known
    unknown = await asked(call, alice, agent_id, UNKNOWN)
    assert unknown["content"] == DONT_KNOW and unknown["metadata"]["answer_found"] is False
    _, empty_agent = await add_agent(client.app, company_id)  # ingestion never heard of it: no knowledge
    nothing = await asked(call, alice, empty_agent, KNOWN)
    assert nothing["metadata"]["answer_found"] is False
    # the messages API and the stream's completed event carry it too
    path = f"/api/v1/conversation/{unknown['conversation_id']}/messages"
    messages = (await call("GET", path, alice)).json()["messages"]
    assert messages[-1]["metadata"]["answer_found"] is False
    r = await call("GET", f"{path}/stream", alice, params={"message_id": unknown["id"]})
    completed = [data for name, data in sse_events(r.text) if name == "completed"]
    assert completed and completed[-1]["message"]["metadata"]["answer_found"] is False


async def test_gaps_group_questions_by_their_normalised_text_with_reasons(call, trained):
    company_id, agent_id = trained
    alice, boss = member(company_id), admin(company_id)
    first = await asked(call, alice, agent_id, UNKNOWN)
    second = await asked(call, alice, agent_id, "  what is the REFUND   policy for damaged parcels ??")
    await asked(call, alice, agent_id, KNOWN)
    rated = await asked(call, alice, agent_id, "When are refrigerated trucks loaded?")
    r = await call("POST", f"/api/v1/message/{rated['id']}/feedback", alice, json={"thumbs": "down"})
    assert r.status_code == 201, r.text

    r = await call("GET", GAPS, boss)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pagination"]["total"] == 2
    top, other = body["knowledge_gaps"]
    assert top["question"] == "what is the REFUND   policy for damaged parcels ??"  # the latest wording
    assert top["count"] == 2 and top["reasons"] == {"no_answer": 2, "negative_feedback": 0}
    assert top["agents"] == [{"id": str(agent_id), "name": "Dock helper"}]
    assert top["conversation_ids"] == [second["conversation_id"], first["conversation_id"]]
    assert top["first_asked"] < top["last_asked"]
    assert other["question"] == "When are refrigerated trucks loaded?" and other["count"] == 1
    assert other["reasons"] == {"no_answer": 0, "negative_feedback": 1}
    assert KNOWN not in {g["question"] for g in body["knowledge_gaps"]}


async def test_gaps_filters_access_and_tenancy(call, trained):
    company_id, agent_id = trained
    alice, boss = member(company_id), admin(company_id)
    await asked(call, alice, agent_id, UNKNOWN)
    assert len((await call("GET", GAPS, boss, params={"agent_id": str(agent_id)})).json()["knowledge_gaps"]) == 1
    r = await call("GET", GAPS, boss, params={"agent_id": str(uuid.uuid4())})
    assert r.status_code == 200 and r.json()["knowledge_gaps"] == []
    r = await call("GET", GAPS, boss, params={"to": "2020-01-01"})
    assert r.json()["knowledge_gaps"] == [] and r.json()["pagination"]["total"] == 0
    r = await call("GET", GAPS, boss, params={"from": "2020-01-01", "per_page": 1, "page": 5})
    assert r.json()["knowledge_gaps"] == [] and r.json()["pagination"]["total"] == 1
    r = await call("GET", GAPS, boss, params={"from": "soon"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "from"], r.text
    assert (await call("GET", GAPS, alice)).status_code == 403
    r = await call("GET", GAPS, admin(uuid.uuid4()))
    assert r.status_code == 200 and r.json()["knowledge_gaps"] == []
