"""Conversations' view of agents, kept from `events.agents.agent.*`: who answers, with which
model, personality and languages (API keys are fetched when needed, never stored here).

Read-your-writes: a request naming an agent the projection has not seen (created a moment
ago) or holds as deleted or unable to answer asks the agents service (`owner`, an
`OwnerFallback` on `app.state.agents`) and applies its answer like the event before answering
(docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.errors import Conflict, NotFound
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.agents import (
    AgentCreatedV1,
    AgentDeletedV1,
    AgentRestoredV1,
    AgentSnapshot,
    AgentUpdatedV1,
)
from knowrithm_common.projections import upsert_if_newer
from knowrithm_common.queries import AgentsOwner, agents_fallback, projected_agent
from knowrithm_conversations.models import AgentView

PROJECTION = "conversations.agents"



class AgentNotFound(NotFound):
    code, message = "agent_not_found", "Agent not found"


class AgentInactive(Conflict):
    code = "agent_inactive"
    message = "The agent is not active; an admin can set its status to active"


class AgentNotConfigured(Conflict):
    code = "agent_not_configured"
    message = "The agent has no LLM settings; an admin should add settings for it or its company"


async def get_agent(
    session: AsyncSession,
    *,
    company_id: uuid.UUID | None,
    agent_id: uuid.UUID,
    owner: AgentsOwner | None,
    check: Callable[[AgentView], object] | None = None,
) -> AgentView:
    """A live agent of the company (any company when None) that passes `check`; 404 otherwise.

    With `owner` (requests), a miss asks the agents service first; without (the answerer, whose
    request already found the agent) the projection alone answers.
    """
    return await projected_agent(
        session, AgentView, agent_id=agent_id, company_id=company_id, owner=owner,
        not_found=AgentNotFound, check=check,
    )


async def latest_active_agent(session: AsyncSession, company_id: uuid.UUID | None) -> AgentView | None:
    """The company's live, active agent changed most recently, if it has one."""
    stmt = (
        select(AgentView)
        .where(AgentView.company_id == company_id, AgentView.deleted.is_(False), AgentView.status == "active")
        .order_by(AgentView.updated_at.desc(), AgentView.agent_id)
        .limit(1)
    )
    return await session.scalar(stmt)


def ready_to_answer(agent: AgentView) -> AgentView:
    """The agent if it can chat now; the reason it cannot otherwise."""
    if agent.status != "active":
        raise AgentInactive(f"The agent is {agent.status}; an admin can set its status to active")
    if not agent.llm_provider or not agent.llm_model:
        raise AgentNotConfigured()
    return agent


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
