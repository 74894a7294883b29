"""Feedback API on the real conversations app, with PostgreSQL, NATS and Redis from the embedded
stack: ratings and thumbs on answers and conversations, by their owners (leads included)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from knowrithm_conversations.models import shared

from .support import add_agent, add_messages, admin, lead, member


async def conversation_of(call, principal, agent_id) -> str:
    r = await call("POST", "/api/v1/conversation", principal, json={"agent_id": str(agent_id)})
    assert r.status_code == 201, r.text
    return r.json()["conversation"]["id"]


async def feedback_events(app, conversation_id) -> list[dict]:
    async with app.state.db.sessions() as session:
        rows = await session.scalars(select(shared.outbox.c.envelope))
        found = [e for e in rows if e["type"] == "conversations.feedback.given.v1"
                 and e["data"]["conversation_id"] == conversation_id]
    return sorted(found, key=lambda e: dt.datetime.fromisoformat(e["time"]))  # in the order recorded


async def test_a_lead_rates_an_answer_and_changing_its_mind_replaces_the_first_vote(client, call):
    company_id, agent_id = await add_agent(client.app)
    visitor = await lead(client.app, company_id)
    conversation_id = await conversation_of(call, visitor, agent_id)
    _, answer_id = await add_messages(client.app, conversation_id, 2)
    path = f"/api/v1/message/{answer_id}/feedback"

    r = await call("POST", path, visitor, json={"thumbs": "down", "comment": "  Missed the point  "})
    assert r.status_code == 201, r.text
    first = r.json()["feedback"]
    assert first["thumbs"] == "down" and first["comment"] == "Missed the point" and first["rating"] is None
    assert first["message_id"] == str(answer_id) and first["entity_type"] == "lead"
    r = await call("POST", path, visitor, json={"thumbs": "up", "rating": 5})
    assert r.status_code == 200 and r.json()["feedback"]["id"] == first["id"], r.text
    assert r.json()["feedback"]["comment"] is None

    r = await call("GET", f"/api/v1/conversation/{conversation_id}/feedback", admin(company_id))
    assert r.status_code == 200 and r.json()["total"] == 1, r.text
    assert (r.json()["feedback"][0]["thumbs"], r.json()["feedback"][0]["rating"]) == ("up", 5)
    given = await feedback_events(client.app, conversation_id)
    assert [(e["data"]["thumbs"], e["data"]["has_comment"]) for e in given] == [("down", True), ("up", False)]
    assert "Missed" not in str(given)


async def test_the_owner_rates_the_whole_conversation_and_members_list_all_feedback(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = member(company_id)
    conversation_id = await conversation_of(call, alice, agent_id)
    _, answer_id = await add_messages(client.app, conversation_id, 2)
    r = await call("POST", f"/api/v1/conversation/{conversation_id}/feedback", alice, json={"rating": 4})
    assert r.status_code == 201 and r.json()["feedback"]["message_id"] is None, r.text
    r = await call("POST", f"/api/v1/message/{answer_id}/feedback", alice, json={"rating": 3})
    assert r.status_code == 201, r.text

    r = await call("GET", f"/api/v1/conversation/{conversation_id}/feedback", alice)
    assert [(f["message_id"], f["rating"]) for f in r.json()["feedback"]] == [(None, 4), (str(answer_id), 3)]


async def test_empty_or_malformed_feedback_is_refused_with_a_reason(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = member(company_id)
    conversation_id = await conversation_of(call, alice, agent_id)
    question_id, answer_id = await add_messages(client.app, conversation_id, 2)
    path = f"/api/v1/message/{answer_id}/feedback"

    r = await call("POST", path, alice, json={"comment": "Nice"})
    assert r.status_code == 422 and r.json()["error"] == "feedback_empty", r.text
    for body in ({"rating": 6}, {"rating": 0}, {"thumbs": "sideways"}, {"thumbs": "up", "comment": "x" * 2001}):
        r = await call("POST", path, alice, json=body)
        assert r.status_code == 422 and r.json()["error"] == "validation_error", (body, r.text)
    r = await call("POST", f"/api/v1/message/{question_id}/feedback", alice, json={"thumbs": "up"})
    assert r.status_code == 422 and r.json()["error"] == "feedback_on_answers_only"


async def test_nobody_else_can_rate_or_read_a_conversations_feedback(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = member(company_id)
    conversation_id = await conversation_of(call, alice, agent_id)
    _, answer_id = await add_messages(client.app, conversation_id, 2)
    other_company, _ = await add_agent(client.app)
    strangers = [member(company_id), admin(other_company),
                 await lead(client.app, company_id)]
    for stranger in strangers:
        for path in (f"/api/v1/message/{answer_id}/feedback", f"/api/v1/conversation/{conversation_id}/feedback"):
            r = await call("POST", path, stranger, json={"thumbs": "down"})
            assert r.status_code == 404, (stranger.kind, path, r.text)
    r = await call("GET", f"/api/v1/conversation/{conversation_id}/feedback", admin(other_company))
    assert r.status_code == 404
    r = await call("GET", f"/api/v1/conversation/{conversation_id}/feedback", strangers[2])
    assert r.status_code == 403  # leads rate, but only the company's members read feedback
    r = await call("GET", f"/api/v1/conversation/{conversation_id}/feedback", admin(company_id))
    assert r.json()["feedback"] == []


async def test_feedback_on_a_deleted_conversation_is_refused(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = member(company_id)
    conversation_id = await conversation_of(call, alice, agent_id)
    _, answer_id = await add_messages(client.app, conversation_id, 2)
    assert (await call("DELETE", f"/api/v1/conversation/{conversation_id}", alice)).status_code == 200
    for path in (f"/api/v1/message/{answer_id}/feedback", f"/api/v1/conversation/{conversation_id}/feedback"):
        r = await call("POST", path, alice, json={"thumbs": "up"})
        assert r.status_code == 404, (path, r.text)
