"""Read-your-writes of ingestion's agents projection: an agent the agents service has (it answered
201 a moment ago) but whose event has not reached ingestion yet is usable at once.

The projection is deliberately behind: the agents service's state query (`client.agents_owner`,
answering `rpc.agents.agent.v1` on the embedded NATS) knows agents whose events were never
published, so only the fallback can find them.
"""

from __future__ import annotations

import datetime as dt
import uuid

from knowrithm_common.events import new_event
from knowrithm_common.events.agents import AgentCreatedV1, AgentDeletedV1
from knowrithm_ingestion.models import AgentView

from .support import admin, agent_snapshot, apply_agent_event, member

TXT = ("notes.txt", b"The warranty lasts two years.", "text/plain")


async def upload(call, principal, agent_id):
    return await call("POST", "/api/v1/document/upload", principal, data={"agent_id": str(agent_id)},
                      files=[("files", TXT)])


async def misses(client, outcome: str) -> float:
    """knowrithm_projection_misses_total{projection="ingestion.agents", outcome} from /metrics."""
    text = (await client.get("/metrics")).text
    label = f'knowrithm_projection_misses_total{{outcome="{outcome}",projection="ingestion.agents"}}'
    lines = [line for line in text.splitlines() if line.startswith(label)]
    return float(lines[0].split()[-1]) if lines else 0.0


async def projected(client, agent_id) -> AgentView | None:
    async with client.app.state.db.sessions() as session:
        return await session.get(AgentView, agent_id)


async def test_upload_for_an_agent_whose_event_has_not_arrived_is_accepted_and_the_agent_projected(client, call):
    snapshot = agent_snapshot()
    version = dt.datetime.now(dt.UTC)
    client.agents_owner.know(snapshot, version=version)
    before = await misses(client, "applied")
    r = await upload(call, admin(snapshot.company_id), snapshot.agent_id)
    assert r.status_code == 202, r.text
    row = await projected(client, snapshot.agent_id)
    assert row is not None and row.embedding_model == "offline-embedder" and row.event_time == version
    assert await misses(client, "applied") == before + 1
    # Now projected: the next request is served without asking again.
    assert (await upload(call, admin(snapshot.company_id), snapshot.agent_id)).status_code == 202
    assert await misses(client, "applied") == before + 1


async def test_agent_the_agents_service_does_not_know_answers_404(client, call):
    before = await misses(client, "not_found")
    r = await upload(call, admin(uuid.uuid4()), uuid.uuid4())
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"
    assert await misses(client, "not_found") == before + 1


async def test_another_companys_new_agent_answers_404(client, call):
    snapshot = agent_snapshot()
    client.agents_owner.know(snapshot, version=dt.datetime.now(dt.UTC))
    r = await upload(call, admin(uuid.uuid4()), snapshot.agent_id)
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"


async def test_unseen_agent_while_the_agents_service_is_down_answers_503_with_retry_after(client, call):
    snapshot = agent_snapshot()
    await client.agents_owner.stop()
    try:
        before = await misses(client, "unavailable")
        r = await upload(call, admin(snapshot.company_id), snapshot.agent_id)
    finally:
        await client.agents_owner.start(client.app.state.nats)
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    assert r.json()["error"] == "owner_unavailable" and r.json()["success"] is False
    assert await misses(client, "unavailable") == before + 1


async def test_a_known_but_deleted_agent_while_the_agents_service_is_down_answers_404(client, call):
    snapshot = agent_snapshot()
    deleted = new_event(AgentDeletedV1(**snapshot.model_dump()), source="agents", company_id=snapshot.company_id)
    async with client.app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, deleted)
    await client.agents_owner.stop()
    try:
        r = await upload(call, admin(snapshot.company_id), snapshot.agent_id)
    finally:
        await client.agents_owner.start(client.app.state.nats)
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"


async def test_a_just_restored_agent_is_usable_before_its_event_arrives(client, call):
    snapshot = agent_snapshot()
    deleted = new_event(AgentDeletedV1(**snapshot.model_dump()), source="agents", company_id=snapshot.company_id)
    async with client.app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, deleted)
    client.agents_owner.know(snapshot, version=dt.datetime.now(dt.UTC))  # restored since
    r = await call("GET", f"/api/v1/document/agent/{snapshot.agent_id}", member(snapshot.company_id))
    assert r.status_code == 200, r.text
    assert (await projected(client, snapshot.agent_id)).deleted is False


async def test_an_event_older_than_the_applied_answer_changes_nothing(client, call):
    snapshot = agent_snapshot()
    client.agents_owner.know(snapshot, version=dt.datetime.now(dt.UTC))
    assert (await upload(call, admin(snapshot.company_id), snapshot.agent_id)).status_code == 202
    stale = AgentCreatedV1(**{**snapshot.model_dump(), "name": "the name before"})
    envelope = new_event(stale, source="agents", company_id=snapshot.company_id)
    envelope.time -= dt.timedelta(seconds=5)  # written before the state the agents service answered
    async with client.app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, envelope)
    assert (await projected(client, snapshot.agent_id)).name == snapshot.name


async def test_search_and_website_registration_find_an_agent_whose_event_has_not_arrived(client, call):
    snapshot = agent_snapshot()
    client.agents_owner.know(snapshot, version=dt.datetime.now(dt.UTC))
    r = await call("POST", "/api/v1/search/document", member(snapshot.company_id),
                   json={"query": "warranty", "agent_id": str(snapshot.agent_id)})
    assert r.status_code == 200, r.text
    other = agent_snapshot()
    client.agents_owner.know(other, version=dt.datetime.now(dt.UTC))
    r = await call("GET", f"/api/v1/website/agent/{other.agent_id}/sources", member(other.company_id))
    assert r.status_code == 200, r.text
