"""The projection's writes: an agent's state from its event, or from the agents service's answer
to a miss (read-your-writes, `build_agents_owner`)."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.events.agents import (
    AgentSnapshot,
)
from knowrithm_common.projections import upsert_if_newer
from knowrithm_common.queries import agent_event_handlers, agents_fallback, snapshot_row
from knowrithm_conversations.models import AgentView

PROJECTION = "conversations.agents"


def _row(snapshot: AgentSnapshot, *, time: dt.datetime, deleted: bool) -> dict[str, object]:
    config = snapshot.configuration
    return {
        **snapshot_row(snapshot, time=time, deleted=deleted),
        "description": snapshot.description,
        "avatar_url": snapshot.avatar_url,
        "personality_traits": dict(snapshot.personality_traits),
        "languages": list(snapshot.languages),
        "llm_provider": config.llm_provider if config else None,
        "llm_model": config.llm_model if config else None,
        "llm_api_base_url": config.llm_api_base_url if config else None,
        "llm_temperature": config.llm_temperature if config else None,
        "llm_max_tokens": config.llm_max_tokens if config else None,
        "llm_params": dict(config.llm_additional_params) if config else {},
    }


async def apply_state(
    session: AsyncSession, snapshot: AgentSnapshot, *, time: dt.datetime, deleted: bool
) -> bool:
    """Write an agent's state (from an event, or the agents service's answer) unless this one or a
    newer one is here; whether it was written."""
    row = _row(snapshot, time=time, deleted=deleted)
    previous = await upsert_if_newer(session, AgentView, key="agent_id", row=row, event_time=time)
    return previous is not AgentView


HANDLERS = agent_event_handlers(apply_state)


async def build_agents_owner(app: FastAPI) -> None:
    """Lifespan hook: the read-your-writes fallback of this projection, on `app.state.agents`."""
    app.state.agents = agents_fallback(
        projection=PROJECTION, db=app.state.db, nats=app.state.nats, apply=apply_state,
        timeout=app.state.settings.agents_lookup_timeout_seconds,
    )
