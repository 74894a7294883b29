"""Every query of user administration; scoped by company unless a super admin asked for all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.models import ApiKey, Company, User
from knowrithm_auth.users.schemas import UserFilters
from knowrithm_common.db.base import utcnow
from knowrithm_common.pagination import PageParams, Pagination, paginate

SORT_COLUMNS: dict[str, Any] = {
    "created_at": User.created_at,
    "updated_at": User.updated_at,
    "last_login": User.last_login_at,
    "email": User.email,
    "username": User.username,
    "first_name": User.first_name,
    "last_name": User.last_name,
    "login_attempts": User.failed_login_attempts,
}


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(f: UserFilters) -> list[ColumnElement[bool]]:
    now = utcnow()
    conds: list[ColumnElement[bool]] = []
    if f.only_deleted:
        conds.append(User.only_deleted())
    elif not f.include_deleted:
        conds.append(User.not_deleted())
    equal = {"status": User.status, "role": User.role, "email_verified": User.email_verified,
             "language": User.language, "timezone": User.timezone}
    for name, column in equal.items():
        value = getattr(f, name)
        if value is not None:
            conds.append(column == value)
    if f.two_factor_enabled:
        conds.append(false())  # nobody has two-factor sign-in
    if f.never_logged_in is not None:
        conds.append(User.last_login_at.is_(None) if f.never_logged_in else User.last_login_at.is_not(None))
    if f.locked is not None:
        is_locked = and_(User.locked_until.is_not(None), User.locked_until > now)
        conds.append(is_locked if f.locked else ~is_locked)
    if f.min_login_attempts is not None:
        conds.append(User.failed_login_attempts >= f.min_login_attempts)
    if f.search:
        pattern = _like(f.search.strip())
        full_name = User.first_name + " " + User.last_name
        conds.append(or_(*(c.ilike(pattern, escape="\\") for c in (
            User.email, User.username, User.first_name, User.last_name, full_name))))
    for value, column, after in (
        (f.created_after, User.created_at, True), (f.created_before, User.created_at, False),
        (f.last_login_after, User.last_login_at, True), (f.last_login_before, User.last_login_at, False),
    ):
        if value is not None:
            conds.append(column >= value if after else column <= value)
    return conds


class UsersRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self, *, company_id: uuid.UUID | None, filters: UserFilters, params: PageParams
    ) -> tuple[Sequence[User], Pagination]:
        """One page of users of `company_id`, or of every company for None (super admins)."""
        stmt: Select[Any] = select(User).where(*_conditions(filters))
        if company_id is not None:
            stmt = stmt.where(User.company_id == company_id)
        column = SORT_COLUMNS[filters.sort_by]
        order = column.asc().nulls_last() if filters.sort_order == "asc" else column.desc().nulls_last()
        stmt = stmt.order_by(order, User.id)
        return await paginate(self.session, stmt, params)

    async def user_in_company(self, user_id: uuid.UUID, company_id: uuid.UUID) -> User | None:
        """A live user, only if it belongs to `company_id`."""
        return await self.session.scalar(
            select(User).where(User.id == user_id, User.company_id == company_id, User.not_deleted())
        )

    async def user_anywhere(self, user_id: uuid.UUID) -> User | None:
        """A live user of any company, or a super admin (super admins only)."""
        return await self.session.scalar(select(User).where(User.id == user_id, User.not_deleted()))

    async def company_exists(self, company_id: uuid.UUID) -> bool:
        """Whether a company, live or deleted, has this id."""
        return await self.session.scalar(select(Company.id).where(Company.id == company_id)) is not None

    async def lock_company(self, company_id: uuid.UUID) -> None:
        """Serialise admin changes within a company (the last-admin rule reads, then writes)."""
        await self.session.execute(select(Company.id).where(Company.id == company_id).with_for_update())

    async def other_active_admins(self, company_id: uuid.UUID, user_id: uuid.UUID) -> int:
        return int(await self.session.scalar(
            select(func.count()).select_from(User).where(
                User.company_id == company_id, User.id != user_id, User.role == "admin",
                User.status == "active", User.not_deleted(),
            )
        ) or 0)

    async def live_keys_of_user(self, user_id: uuid.UUID) -> Sequence[ApiKey]:
        """The user's API keys that are not revoked."""
        return (await self.session.scalars(
            select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        )).all()
