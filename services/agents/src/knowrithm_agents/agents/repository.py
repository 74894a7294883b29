"""Queries of agents, always scoped by company (None: a super admin, every company)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_agents.models import Agent, LlmSettings
from knowrithm_common.pagination import PageParams, Pagination, paginate


def _scoped(query: Select, company_id: uuid.UUID | None) -> Select:
    return query if company_id is None else query.where(Agent.company_id == company_id)


async def get(
    session: AsyncSession, agent_id: uuid.UUID, company_id: uuid.UUID | None, *, deleted: bool = False
) -> Agent | None:
    """A live agent (a soft-deleted one when `deleted`) of the company."""
    state = Agent.deleted_at.is_not(None) if deleted else Agent.not_deleted()
    return await session.scalar(_scoped(select(Agent).where(Agent.id == agent_id, state), company_id))


async def by_name(session: AsyncSession, company_id: uuid.UUID, name: str) -> Agent | None:
    """The company's live agent with this exact name."""
    return await session.scalar(
        select(Agent).where(Agent.company_id == company_id, Agent.name == name, Agent.not_deleted())
    )


async def by_name_ignoring_case(session: AsyncSession, company_id: uuid.UUID, name: str) -> list[Agent]:
    """The company's live agents whose name equals this one but for case."""
    rows = await session.scalars(
        select(Agent).where(
            Agent.company_id == company_id, func.lower(Agent.name) == func.lower(name), Agent.not_deleted()
        )
    )
    return list(rows.all())


async def names_like(session: AsyncSession, company_id: uuid.UUID, prefix: str) -> set[str]:
    """Live agent names of the company starting with `prefix`."""
    rows = await session.scalars(
        select(Agent.name).where(
            Agent.company_id == company_id,
            Agent.name.startswith(prefix, autoescape=True),
            Agent.not_deleted(),
        )
    )
    return set(rows.all())


async def search(
    session: AsyncSession,
    company_id: uuid.UUID | None,
    *,
    status: str | None,
    text: str | None,
    page: PageParams,
) -> tuple[Sequence[Agent], Pagination]:
    """Live agents, newest first, filtered by status and a case-insensitive search of name/description."""
    query = _scoped(select(Agent).where(Agent.not_deleted()), company_id)
    if status is not None:
        query = query.where(Agent.status == status)
    if text:
        query = query.where(
            or_(
                Agent.name.icontains(text, autoescape=True),
                Agent.description.icontains(text, autoescape=True),
            )
        )
    return await paginate(session, query.order_by(Agent.created_at.desc(), Agent.id), page)


async def deleted(
    session: AsyncSession, company_id: uuid.UUID | None, page: PageParams
) -> tuple[Sequence[Agent], Pagination]:
    """Soft-deleted agents (restorable), the newest deletion first."""
    query = _scoped(select(Agent).where(Agent.deleted_at.is_not(None)), company_id)
    return await paginate(session, query.order_by(Agent.deleted_at.desc(), Agent.id), page)


async def own_settings(session: AsyncSession, agent_id: uuid.UUID) -> LlmSettings | None:
    """The agent's live settings row (active or not)."""
    return await session.scalar(
        select(LlmSettings).where(LlmSettings.agent_id == agent_id, LlmSettings.not_deleted())
    )
