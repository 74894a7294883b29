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
from knowrithm_analytics.projections.registry import Projections
from knowrithm_analytics.projections.upserts import if_newer, row, run, upsert
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.agents import (
    AgentCreatedV1,
    AgentDeletedV1,
    AgentRestoredV1,
    AgentSnapshot,
    AgentUpdatedV1,
)

AGENTS: Table = AgentFact.__table__
projections = Projections()
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


@projections.of(AgentCreatedV1, AgentUpdatedV1, AgentDeletedV1, AgentRestoredV1, payload=AgentSnapshot)
async def agent_changed(session: AsyncSession, event: EventEnvelope, data: AgentSnapshot) -> None:
    """Any agent event: it carries the agent's whole state, applied only if newer than the row's.

    `deleted_at` is the time of a `deleted` event that is the newest state.
    """
    await _write(session, data, time=event.time, deleted=event.type == AgentDeletedV1.event_type)


async def apply_state(
    session: AsyncSession, snapshot: AgentSnapshot, *, time: dt.datetime, deleted: bool
) -> bool:
    """The agents service's answer about an agent, written as its event would be; whether it was newer."""
    held = await session.scalar(select(AGENTS.c.event_time).where(AGENTS.c.agent_id == snapshot.agent_id))
    await _write(session, snapshot, time=time, deleted=deleted)
    return held is None or held < time


async def _write(session: AsyncSession, data: AgentSnapshot, *, time: dt.datetime, deleted: bool) -> None:
    model = data.configuration.llm_model if data.configuration is not None else None
    deleted_at = time if deleted else None
    agent = row(AGENTS, data, model=model, created_at=time, deleted_at=deleted_at, event_time=time)
    await run(session, _AGENT_CHANGED, agent)
