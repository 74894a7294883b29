"""Helpers of the ingestion tests: principals, agents in the projection, polling."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from knowrithm_common.identity import Principal


def admin(company_id: uuid.UUID) -> Principal:
    return Principal(kind="user", user_id=uuid.uuid4(), company_id=company_id, role="admin")


def member(company_id: uuid.UUID) -> Principal:
    return Principal(kind="user", user_id=uuid.uuid4(), company_id=company_id, role="user")


def agent_snapshot(*, company_id: uuid.UUID | None = None, agent_id: uuid.UUID | None = None,
                   widget_config: dict | None = None, model: str = "offline-embedder", provider: str = "offline",
                   dimension: int = 384, status: str = "active"):
    """An agent as the agents service describes it (events and its state query), on the offline models."""
    from knowrithm_common.events.agents import AgentConfiguration, AgentSnapshot

    agent_id = agent_id or uuid.uuid4()
    config = AgentConfiguration(
        settings_id=uuid.uuid4(), settings_level="company", llm_provider_id=uuid.uuid4(), llm_provider="offline",
        llm_model_id=uuid.uuid4(), llm_model="extractive-responder", llm_api_base_url=None, llm_temperature=0.2,
        llm_max_tokens=512, embedding_provider_id=uuid.uuid4(), embedding_provider=provider,
        embedding_model_id=uuid.uuid4(), embedding_model=model, embedding_api_base_url=None,
        embedding_dimension=dimension,
    )
    return AgentSnapshot(agent_id=agent_id, company_id=company_id or uuid.uuid4(), name=f"agent-{agent_id.hex[:6]}",
                         status=status, widget_config=widget_config or {}, configuration=config)


async def add_agent(app, *, company_id: uuid.UUID | None = None, widget_config: dict | None = None,
                    model: str = "offline-embedder", provider: str = "offline", dimension: int = 384):
    """Apply an agents.agent.created.v1 event to the projection, as the consumer would."""
    from knowrithm_common.events import new_event
    from knowrithm_common.events.agents import AgentCreatedV1
    from knowrithm_ingestion.agents_view import on_agent_changed

    snapshot = agent_snapshot(company_id=company_id, widget_config=widget_config, model=model, provider=provider,
                              dimension=dimension)
    envelope = new_event(AgentCreatedV1(**snapshot.model_dump()), source="agents", company_id=snapshot.company_id)
    async with app.state.db.sessions() as session, session.begin():
        await on_agent_changed(session, envelope)
    return snapshot.company_id, snapshot.agent_id


async def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    """Poll an async predicate until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
