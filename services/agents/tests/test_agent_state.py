"""`rpc.agents.agent.v1` over the embedded NATS: an agent's current state, as its newest event
describes it and stamped with that event's time, for projections that have not caught up."""

import datetime as dt
import uuid

from knowrithm_common.events.agents import AgentSnapshot
from knowrithm_common.queries import AgentStateReply, agent_state

from .support import catalogue, company_principals
from .test_agents import company_settings, make_agent, outbox


async def ask(client, agent_id) -> AgentStateReply:
    return await agent_state(client.app.state.nats, agent_id=uuid.UUID(str(agent_id)), timeout=5)


async def newest_event(client, agent_id) -> dict:
    return [e for e in await outbox(client) if e["data"]["agent_id"] == str(agent_id)][-1]


def same_as(reply: AgentStateReply, event: dict) -> bool:
    """The answer carries the event's state and time, so a projection applies it like the event."""
    return (reply.agent == AgentSnapshot.model_validate(event["data"])
            and reply.version == dt.datetime.fromisoformat(event["time"]))


async def test_state_is_the_newest_agent_events_state_and_time_through_every_change(client, call):
    cat = await catalogue(call)
    _, admin, _ = company_principals()
    settings = await company_settings(call, cat, admin)
    agent = await make_agent(call, admin)

    created = await ask(client, agent["id"])
    assert same_as(created, await newest_event(client, agent["id"])) and created.deleted is False

    assert (await call("PUT", f"/api/v1/agent/{agent['id']}", admin, json={"status": "inactive"})).status_code == 200
    paused = await ask(client, agent["id"])
    assert same_as(paused, await newest_event(client, agent["id"])) and paused.agent.status == "inactive"
    assert paused.version > created.version

    # A change of the company's settings changes the agent's configuration: a new version too.
    r = await call("PUT", f"/api/v1/settings/{settings['id']}", admin, json={"llm_temperature": 0.1})
    assert r.status_code == 200, r.text
    retuned = await ask(client, agent["id"])
    assert same_as(retuned, await newest_event(client, agent["id"]))
    assert retuned.agent.configuration.llm_temperature == 0.1 and retuned.version > paused.version

    assert (await call("DELETE", f"/api/v1/agent/{agent['id']}", admin)).status_code == 200
    deleted = await ask(client, agent["id"])
    assert same_as(deleted, await newest_event(client, agent["id"])) and deleted.deleted is True


async def test_unknown_agent_has_no_state(client):
    reply = await ask(client, uuid.uuid4())
    assert reply.agent is None and reply.version is None
