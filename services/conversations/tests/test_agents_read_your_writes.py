"""Read-your-writes of conversations' agents projection: every route that names an agent works at
once for an agent the agents service has but whose event has not arrived yet.

The projection is deliberately behind: the agents service's state query (`client.agents_owner`,
answering `rpc.agents.agent.v1` on the embedded NATS) knows agents whose events were never
published, so only the fallback can find them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from prometheus_client import REGISTRY

from knowrithm_common.events import new_event
from knowrithm_common.events.agents import AgentUpdatedV1
from knowrithm_conversations.agents.handlers import apply_state

from .support import admin, agent_snapshot, apply_agent_event, member


def new_agent(client):
    """An agent the agents service knows and the projection has never seen."""
    snapshot = agent_snapshot()
    client.agents_owner.know(snapshot, version=dt.datetime.now(dt.UTC))
    return snapshot


def visitor(agent_id) -> dict:
    return {"agent_id": str(agent_id), "first_name": "Ada", "email": f"ada.{uuid.uuid4().hex[:8]}@example.com",
            "consent_data_processing": True}


def lead(agent_id) -> dict:
    return {"agent_id": str(agent_id), "first_name": "Grace", "email": f"grace.{uuid.uuid4().hex[:8]}@example.com"}


ROUTES = {
    "start a conversation": ("POST", "/api/v1/conversation", member, lambda a: {"agent_id": a}, 201),
    "list its conversations": ("GET", "/api/v1/conversation/agent/{a}", member, None, 200),
    "test the agent": ("POST", "/api/v1/agent/{a}/test", admin, lambda a: {"query": "Hello?"}, 202),
    "widget settings": ("GET", "/api/v1/widget/agent/{a}", None, None, 200),
    "register a widget lead": ("POST", "/api/v1/lead/register", None, visitor, 201),
    "record a lead": ("POST", "/api/v1/lead", admin, lead, 201),
    "make a test page": ("POST", "/api/v1/test", admin, lambda a: {"agent_id": a, "body": "<p>hi</p>"}, 201),
}


@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
async def test_route_naming_an_agent_whose_event_has_not_arrived_succeeds(client, call, route):
    method, path, role, body, status = route
    snapshot = new_agent(client)
    agent = str(snapshot.agent_id)
    principal = role(snapshot.company_id) if role else None
    r = await call(method, path.format(a=agent), principal, **({"json": body(agent)} if body else {}))
    assert r.status_code == status, r.text


async def test_each_miss_is_counted_by_outcome(client, call):
    def count(outcome):
        labels = {"projection": "conversations.agents", "outcome": outcome}
        return REGISTRY.get_sample_value("knowrithm_projection_misses_total", labels) or 0.0

    applied, not_found = count("applied"), count("not_found")
    snapshot = new_agent(client)
    body = {"agent_id": str(snapshot.agent_id)}
    assert (await call("POST", "/api/v1/conversation", member(snapshot.company_id), json=body)).status_code == 201
    assert (await call("POST", "/api/v1/conversation", member(snapshot.company_id), json=body)).status_code == 201
    assert count("applied") == applied + 1  # the second found it projected
    r = await call("POST", "/api/v1/conversation", member(uuid.uuid4()), json={"agent_id": str(uuid.uuid4())})
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"
    assert count("not_found") == not_found + 1


async def test_a_refusal_the_agents_service_confirms_stands_and_is_counted_current(client, call):
    labels = {"projection": "conversations.agents", "outcome": "current"}
    current = REGISTRY.get_sample_value("knowrithm_projection_misses_total", labels) or 0.0
    paused = agent_snapshot(status="inactive")
    version = dt.datetime.now(dt.UTC)
    async with client.app.state.db.sessions() as session, session.begin():
        await apply_state(session, paused, time=version, deleted=False)
    client.agents_owner.know(paused, version=version)
    r = await call("GET", f"/api/v1/widget/agent/{paused.agent_id}")
    assert r.status_code == 404, r.text
    assert REGISTRY.get_sample_value("knowrithm_projection_misses_total", labels) == current + 1


async def test_an_agent_whose_event_arrives_while_the_agents_service_is_asked_is_served(client, call):
    snapshot = agent_snapshot()
    version = dt.datetime.now(dt.UTC)
    client.agents_owner.know(snapshot, version=version)

    async def event_arrives(_agent_id):
        async with client.app.state.db.sessions() as session, session.begin():
            await apply_state(session, snapshot, time=version, deleted=False)  # as the consumer would

    client.agents_owner.before_answer = event_arrives
    try:
        r = await call("POST", "/api/v1/conversation", member(snapshot.company_id),
                       json={"agent_id": str(snapshot.agent_id)})
    finally:
        client.agents_owner.before_answer = None
    assert r.status_code == 201, r.text


async def test_conversation_with_an_unseen_agent_while_the_agents_service_is_down_answers_503(client, call):
    snapshot = agent_snapshot()
    await client.agents_owner.stop()
    try:
        r = await call("POST", "/api/v1/conversation", member(snapshot.company_id),
                       json={"agent_id": str(snapshot.agent_id)})
    finally:
        await client.agents_owner.start(client.app.state.nats)
    assert r.status_code == 503 and r.json()["error"] == "owner_unavailable", r.text
    assert r.headers["retry-after"] == "1"


async def test_chat_with_an_agent_activated_a_moment_ago_is_accepted(client, call):
    snapshot = new_agent(client)
    user = member(snapshot.company_id)
    r = await call("POST", "/api/v1/conversation", user, json={"agent_id": str(snapshot.agent_id)})
    conversation_id = r.json()["conversation"]["id"]
    paused = AgentUpdatedV1(**{**snapshot.model_dump(), "status": "inactive"})
    async with client.app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, new_event(paused, source="agents", company_id=snapshot.company_id))
    r = await call("POST", f"/api/v1/conversation/{conversation_id}/chat", user, json={"message": "Hi"})
    # The agents service's answer is older than the pause the projection holds: the pause stands.
    assert r.status_code == 409 and r.json()["error"] == "agent_inactive"
    client.agents_owner.know(snapshot, version=dt.datetime.now(dt.UTC))  # an admin activated it again
    r = await call("POST", f"/api/v1/conversation/{conversation_id}/chat", user, json={"message": "Hi"})
    assert r.status_code == 202, r.text


async def test_more_concurrent_misses_than_database_connections_all_succeed(client, call):
    # Each request holds a connection of the app's pool (5 + 5 overflow) while its miss is
    # applied: the answers go through a pool of their own, so twenty at once cannot starve.
    agents = [new_agent(client) for _ in range(20)]

    async def start(snapshot):
        return await call("POST", "/api/v1/conversation", member(snapshot.company_id),
                          json={"agent_id": str(snapshot.agent_id)})

    answers = await asyncio.wait_for(asyncio.gather(*(start(a) for a in agents)), timeout=25)
    assert [r.status_code for r in answers] == [201] * len(agents)
