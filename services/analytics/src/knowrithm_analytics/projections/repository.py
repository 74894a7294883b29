"""Queries over the registration projections; deleted companies and their users are left out."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import CompanyRegistration, UserRegistration


async def count_companies(session: AsyncSession) -> int:
    """Companies that signed up and are not deleted."""
    stmt = (
        select(func.count()).select_from(CompanyRegistration).where(CompanyRegistration.deleted_at.is_(None))
    )
    return int(await session.scalar(stmt) or 0)


async def count_users(session: AsyncSession, company_id: uuid.UUID | None) -> int:
    """Users of one company, or of the whole platform when `company_id` is None; none of a deleted company."""
    stmt = (
        select(func.count())
        .select_from(UserRegistration)
        .outerjoin(CompanyRegistration, CompanyRegistration.company_id == UserRegistration.company_id)
        .where(CompanyRegistration.deleted_at.is_(None))
    )
    if company_id is not None:
        stmt = stmt.where(UserRegistration.company_id == company_id)
    return int(await session.scalar(stmt) or 0)
