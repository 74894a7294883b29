"""Projection of the agents service's events: each agent's name, status and model.

An agent the projection has not seen yet is asked of the agents service by the routes that
name one (`apply_state` writes its answer as the event would: docs/architecture.md,
"Read-your-writes across services").
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import AgentFact
from knowrithm_analytics.projections.upserts import if_newer, run, upsert
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.agents import AgentDeletedV1, AgentSnapshot

AGENTS: Table = AgentFact.__table__
_STATE = ("name", "status", "model", "deleted_at", "event_time")
# `created_at` is the earliest event time seen: the `created` event's once it has arrived.
_AGENT_CHANGED = upsert(
    AGENTS,
    "agent_id",
    lambda x: {
        **if_newer(AGENTS, x, time="event_time", columns=_STATE),
        "created_at": func.least(AGENTS.c.created_at, x.created_at),
    },
)


async def agent_changed(session: AsyncSession, event: EventEnvelope) -> None:
    """Any agent event: it carries the agent's whole state, applied only if newer than the row's.

    `deleted_at` is the time of a `deleted` event that is the newest state.
    """
    data = AgentSnapshot.model_validate(event.data)
    await _write(session, data, time=event.time, deleted=event.type == AgentDeletedV1.event_type)


async def apply_state(
    session: AsyncSession, snapshot: AgentSnapshot, *, time: dt.datetime, deleted: bool
) -> bool:
    """The agents service's answer about an agent, written as its event would be; whether it was newer."""
    held = await session.scalar(select(AGENTS.c.event_time).where(AGENTS.c.agent_id == snapshot.agent_id))
    await _write(session, snapshot, time=time, deleted=deleted)
    return held is None or held < time


async def _write(session: AsyncSession, data: AgentSnapshot, *, time: dt.datetime, deleted: bool) -> None:
    model = data.configuration.llm_model[:200] if data.configuration is not None else None
    await run(
        session,
        _AGENT_CHANGED,
        {
            "agent_id": data.agent_id,
            "company_id": data.company_id,
            "name": data.name[:255],
            "status": data.status[:30],
            "model": model,
            "created_at": time,
            "deleted_at": time if deleted else None,
            "event_time": time,
        },
    )
