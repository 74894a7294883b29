"""The conversation lists' filters (agent, period, rating, lead) and the conversations export, on
the real conversations app with PostgreSQL, NATS and Redis from the embedded stack."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest
from sqlalchemy import update

from knowrithm_conversations.models import Conversation

from .support import add_agent, add_messages, admin, lead, member

DAY = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


async def start(call, principal, agent_id) -> str:
    r = await call("POST", "/api/v1/conversation", principal, json={"agent_id": str(agent_id)})
    assert r.status_code == 201, r.text
    return r.json()["conversation"]["id"]


async def active_at(app, conversation_id: str, when: dt.datetime) -> None:
    async with app.state.db.sessions() as session, session.begin():
        await session.execute(update(Conversation).where(Conversation.id == uuid.UUID(conversation_id))
                              .values(last_activity=when))


async def listed(call, principal, path="/api/v1/conversation", **params) -> set[str]:
    r = await call("GET", path, principal, params=params)
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()["conversations"]}


@pytest.fixture
async def company(client, call):
    """Two agents; a member's conversations: rated up, rated down (a rating of 1), unrated, and a
    lead's; each active on its own day."""
    company_id, agent_id = await add_agent(client.app, name="Support")
    _, other_agent = await add_agent(client.app, company_id, name="Sales")
    alice, visitor = member(company_id), await lead(client.app, company_id)
    up, down, quiet = [await start(call, alice, agent_id) for _ in range(3)]
    sales = await start(call, alice, other_agent)
    with_lead = await start(call, visitor, agent_id)
    for n, cid in enumerate((up, down, quiet, sales, with_lead)):
        await add_messages(client.app, cid, 2)
        await active_at(client.app, cid, DAY + dt.timedelta(days=n))
    for cid, body in ((up, {"thumbs": "up"}), (down, {"rating": 1})):
        r = await call("GET", f"/api/v1/conversation/{cid}/messages", alice)
        answer = r.json()["messages"][1]["id"]
        r = await call("POST", f"/api/v1/message/{answer}/feedback", alice, json=body)
        assert r.status_code == 201, r.text
    return {"company_id": company_id, "agent": agent_id, "other_agent": other_agent, "alice": alice,
            "visitor": visitor, "up": up, "down": down, "quiet": quiet, "sales": sales, "lead": with_lead}


async def test_filters_by_rating_lead_agent_and_period(call, company):
    boss, c = admin(company["company_id"]), company
    assert await listed(call, boss, rating="positive") == {c["up"]}
    assert await listed(call, boss, rating="negative") == {c["down"]}
    assert await listed(call, boss, rating="unrated") == {c["quiet"], c["sales"], c["lead"]}
    assert await listed(call, boss, lead="with") == {c["lead"]}
    assert await listed(call, boss, lead_id=str(c["visitor"].lead_id)) == {c["lead"]}
    assert c["lead"] not in await listed(call, boss, lead="without")
    assert await listed(call, boss, agent_id=str(c["other_agent"])) == {c["sales"]}
    # a date is the whole day; a datetime is exact
    assert await listed(call, boss, **{"from": "2026-03-11", "to": "2026-03-12"}) == {c["down"], c["quiet"]}
    assert await listed(call, boss, **{"from": "2026-03-13T12:00:00Z"}) == {c["sales"], c["lead"]}
    assert await listed(call, boss, **{"to": "2026-03-10T11:59:59+00:00"}) == set()
    path = f"/api/v1/conversation/agent/{c['agent']}"
    assert await listed(call, boss, path, rating="unrated", lead="without") == {c["quiet"]}


async def test_plain_users_filter_their_own_and_other_companies_see_nothing(call, company):
    c = company
    assert await listed(call, c["alice"], lead="with") == set()
    assert await listed(call, c["alice"], rating="negative") == {c["down"]}
    stranger = admin(uuid.uuid4())
    assert await listed(call, stranger, rating="unrated") == set()
    assert await listed(call, stranger, lead_id=str(c["visitor"].lead_id)) == set()
    r = await call("GET", f"/api/v1/conversation/agent/{c['agent']}", stranger, params={"rating": "positive"})
    assert r.status_code == 404, r.text


@pytest.mark.parametrize(("name", "value"), [
    ("rating", "great"), ("lead", "maybe"), ("from", "last week"), ("to", "2026-13-01"),
    ("agent_id", "nope"), ("lead_id", "42"),
])
async def test_bad_filter_values_answer_422_naming_the_parameter(call, company, name, value):
    r = await call("GET", "/api/v1/conversation", admin(company["company_id"]), params={name: value})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["success"] is False and body["error"] == "validation_error"
    assert any(d["loc"][-1] == name for d in body["detail"]), body


async def test_from_after_to_is_422(call, company):
    r = await call("GET", "/api/v1/conversation", admin(company["company_id"]),
                   params={"from": "2026-03-12", "to": "2026-03-11"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "to"], r.text


async def test_export_csv_has_a_row_per_message_with_the_filters_applied(call, company):
    c, boss = company, admin(company["company_id"])
    r = await call("GET", "/api/v1/conversation/export", boss, params={"format": "csv", "rating": "positive"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="conversations-')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["conversation_id"], row["role"], row["content"]) for row in rows] == [
        (c["up"], "user", "message 0"), (c["up"], "assistant", "message 1")]
    assert rows[1]["rating"] == "positive" and rows[0]["rating"] == "" and rows[0]["agent"] == "Support"
    assert r.headers["x-export-truncated"] == "false"


async def test_export_json_is_scoped_like_the_lists(call, company):
    c = company
    r = await call("GET", "/api/v1/conversation/export", c["alice"], params={"format": "json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text
    exported = {row["conversation_id"] for row in r.json()}
    assert exported == {c["up"], c["down"], c["quiet"], c["sales"]}  # not the lead's
    r = await call("GET", "/api/v1/conversation/export", admin(uuid.uuid4()), params={"format": "json"})
    assert r.status_code == 200 and r.json() == []
    r = await call("GET", "/api/v1/conversation/export", c["alice"], params={"format": "xml"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "format", r.text


async def test_leads_filter_by_creation_date(client, call):
    from knowrithm_conversations.models import Lead

    company_id, _ = await add_agent(client.app)
    old, new = await lead(client.app, company_id), await lead(client.app, company_id)
    async with client.app.state.db.sessions() as session, session.begin():
        await session.execute(update(Lead).where(Lead.id == old.lead_id).values(created_at=DAY))
    boss = admin(company_id)

    async def leads(**params) -> set[str]:
        r = await call("GET", "/api/v1/lead/company", boss, params=params)
        assert r.status_code == 200, r.text
        return {row["id"] for row in r.json()["data"]["leads"]}

    assert await leads(**{"from": "2026-03-10", "to": "2026-03-10"}) == {str(old.lead_id)}
    assert await leads(**{"from": "2026-03-11"}) == {str(new.lead_id)}
    r = await call("GET", "/api/v1/lead/company", boss, params={"to": "someday"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "to"], r.text
