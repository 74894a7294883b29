"""Read-your-writes of the analytics agents projection: an agent created a moment ago has its
(empty) numbers at once, although its event has not reached analytics yet; one the agents
service does not know is 404, and while it does not answer, 503."""

import datetime as dt
import uuid

import pytest

from knowrithm_common.events.agents import AgentSnapshot
from knowrithm_common.identity import Principal, Role


def admin_of(company_id: uuid.UUID) -> Principal:
    return Principal(kind="user", company_id=company_id, user_id=uuid.uuid4(), role=Role.ADMIN)


def new_agent(client) -> AgentSnapshot:
    """An agent the agents service has and analytics has never heard of."""
    agent = AgentSnapshot(agent_id=uuid.uuid4(), company_id=uuid.uuid4(), name="Fresh", status="active")
    client.agents_owner.know(agent, version=dt.datetime.now(dt.UTC))
    return agent


@pytest.mark.parametrize("path", ["/api/v1/agent/{id}/stats", "/api/v1/analytic/agent/{id}"])
async def test_numbers_of_an_agent_created_a_moment_ago_are_there_at_once(client, call, path):
    agent = new_agent(client)
    r = await call("GET", path.format(id=agent.agent_id), admin_of(agent.company_id))
    assert r.status_code == 200, r.text


async def test_agent_stats_of_a_new_agent_are_zero_and_name_it(client, call):
    agent = new_agent(client)
    r = await call("GET", f"/api/v1/agent/{agent.agent_id}/stats", admin_of(agent.company_id))
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Fresh" and r.json()["total_conversations"] == 0


async def test_an_agent_the_agents_service_does_not_know_is_404_and_503_while_it_is_down(client, call):
    company = uuid.uuid4()
    r = await call("GET", f"/api/v1/agent/{uuid.uuid4()}/stats", admin_of(company))
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"
    await client.agents_owner.stop()
    try:
        r = await call("GET", f"/api/v1/agent/{uuid.uuid4()}/stats", admin_of(company))
    finally:
        await client.agents_owner.start(client.app.state.nats)
    assert r.status_code == 503 and r.json()["error"] == "owner_unavailable"
