"""Reads of the agents projection: the agent a request names, and whether it can answer now."""

from __future__ import annotations

import functools
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.errors import AgentNotConfigured, AgentNotFound, Conflict, KnowrithmError
from knowrithm_common.queries import AgentsOwner, projected_agent
from knowrithm_conversations.models import AgentView


class AgentInactive(Conflict):
    code = "agent_inactive"
    message = "The agent is not active; an admin can set its status to active"


# A live agent of the company (any company when None) that passes `check`; 404 otherwise.
# With `owner` (requests), a miss asks the agents service first; without (the answerer, whose
# request already found the agent) the projection alone answers. See `projected_agent`.
get_agent = functools.partial(projected_agent, model=AgentView, not_found=AgentNotFound)


async def visitor_agent(
    session: AsyncSession, agent_id: uuid.UUID, *, owner: AgentsOwner, unavailable: type[KnowrithmError]
) -> AgentView:
    """The agent a widget visitor reaches (live and active, of any company); `unavailable` otherwise."""

    def active(agent: AgentView) -> None:
        if agent.status != "active":
            raise unavailable()

    try:
        return await get_agent(session, company_id=None, agent_id=agent_id, owner=owner, check=active)
    except AgentNotFound as exc:
        raise unavailable() from exc


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
        raise AgentNotConfigured(
            "The agent has no LLM settings; an admin should add settings for it or its company"
        )
    return agent
