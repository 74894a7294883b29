"""The projection's writes: an agent's state from its event, or from the agents service's answer
to a miss (read-your-writes, `build_agents_owner`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.agents import (
    AgentCreatedV1,
    AgentDeletedV1,
    AgentRestoredV1,
    AgentSnapshot,
    AgentUpdatedV1,
)
from knowrithm_common.projections import upsert_if_newer
from knowrithm_common.queries import agents_fallback
from knowrithm_conversations.models import AgentView

PROJECTION = "conversations.agents"


def _row(snapshot: AgentSnapshot, *, time: dt.datetime, deleted: bool) -> dict[str, object]:
    config = snapshot.configuration
    return {
        "agent_id": snapshot.agent_id,
        "company_id": snapshot.company_id,
        "name": snapshot.name,
        "description": snapshot.description,
        "avatar_url": snapshot.avatar_url,
        "status": snapshot.status,
        "deleted": deleted,
        "personality_traits": dict(snapshot.personality_traits),
        "languages": list(snapshot.languages),
        "widget_config": dict(snapshot.widget_config),
        "llm_provider": config.llm_provider if config else None,
        "llm_model": config.llm_model if config else None,
        "llm_api_base_url": config.llm_api_base_url if config else None,
        "llm_temperature": config.llm_temperature if config else None,
        "llm_max_tokens": config.llm_max_tokens if config else None,
        "llm_params": dict(config.llm_additional_params) if config else {},
        "updated_at": time,
    }


async def apply_state(
    session: AsyncSession, snapshot: AgentSnapshot, *, time: dt.datetime, deleted: bool
) -> bool:
    """Write an agent's state (from an event, or the agents service's answer) unless this one or a
    newer one is here; whether it was written."""
    row = _row(snapshot, time=time, deleted=deleted)
    previous = await upsert_if_newer(session, AgentView, key="agent_id", row=row, event_time=time)
    return previous is not AgentView


async def on_agent_changed(session: AsyncSession, envelope: EventEnvelope) -> None:
    snapshot = AgentSnapshot.model_validate(envelope.data)
    await apply_state(session, snapshot, time=envelope.time, deleted=False)


async def on_agent_deleted(session: AsyncSession, envelope: EventEnvelope) -> None:
    snapshot = AgentSnapshot.model_validate(envelope.data)
    await apply_state(session, snapshot, time=envelope.time, deleted=True)


HANDLERS: dict[str, Callable[[AsyncSession, EventEnvelope], Awaitable[None]]] = {
    AgentCreatedV1.event_type: on_agent_changed,
    AgentUpdatedV1.event_type: on_agent_changed,
    AgentRestoredV1.event_type: on_agent_changed,
    AgentDeletedV1.event_type: on_agent_deleted,
}


async def build_agents_owner(app: FastAPI) -> None:
    """Lifespan hook: the read-your-writes fallback of this projection, on `app.state.agents`."""
    app.state.agents = agents_fallback(
        projection=PROJECTION, db=app.state.db, nats=app.state.nats, apply=apply_state,
        timeout=app.state.settings.agents_lookup_timeout_seconds,
    )
