"""Queries over the registration projections."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import CompanyRegistration, UserRegistration


async def count_companies(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(CompanyRegistration)) or 0)


async def count_users(session: AsyncSession, company_id: uuid.UUID | None) -> int:
    """Users of one company, or of the whole platform when `company_id` is None."""
    stmt = select(func.count()).select_from(UserRegistration)
    if company_id is not None:
        stmt = stmt.where(UserRegistration.company_id == company_id)
    return int(await session.scalar(stmt) or 0)
