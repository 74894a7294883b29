"""Every query of the companies domain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.models import Address, ApiKey, Company, User
from knowrithm_common.db.base import utcnow
from knowrithm_common.pagination import PageParams, Pagination, paginate

# What a company owns and deletes with itself (soft-deleted, restored with it).
Owned = TypeVar("Owned", bound=User | Address)


class CompaniesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def company(self, company_id: uuid.UUID, *, with_deleted: bool = False) -> Company | None:
        stmt = select(Company).where(Company.id == company_id)
        if not with_deleted:
            stmt = stmt.where(Company.not_deleted())
        return await self.session.scalar(stmt)

    async def lock(self, company_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Company]:
        """Companies (live or deleted) with these ids, locked until the transaction ends."""
        rows = await self.session.scalars(
            select(Company).where(Company.id.in_(list(company_ids))).order_by(Company.id).with_for_update()
        )
        return {c.id: c for c in rows}

    async def email_taken(self, email: str, *, other_than: uuid.UUID | None = None) -> bool:
        """Whether a company (live or deleted; other than `other_than`) has this e-mail, in any case."""
        stmt = select(Company.id).where(func.lower(Company.email) == email.lower())
        if other_than is not None:
            stmt = stmt.where(Company.id != other_than)
        return await self.session.scalar(stmt.limit(1)) is not None

    async def page(
        self, params: PageParams, *, deleted: bool, search: str | None = None
    ) -> tuple[Sequence[Company], Pagination]:
        """One page of live (or of deleted) companies, newest first, most recently deleted first;
        with `search`, those whose name or e-mail contains it (any case)."""
        where = Company.only_deleted() if deleted else Company.not_deleted()
        order = Company.deleted_at.desc() if deleted else Company.created_at.desc()
        stmt: Select[Any] = select(Company).where(where).order_by(order, Company.id)
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(or_(Company.name.ilike(pattern, escape="\\"),
                                  Company.email.ilike(pattern, escape="\\")))
        return await paginate(self.session, stmt, params)

    async def address(self, company_id: uuid.UUID, address_id: int) -> Address | None:
        """A live address of this company."""
        return await self.session.scalar(
            select(Address).where(Address.id == address_id, Address.company_id == company_id,
                                  Address.not_deleted())
        )

    async def addresses_by_id(self, ids: Iterable[int]) -> dict[int, Address]:
        wanted = list(ids)
        if not wanted:
            return {}
        rows = await self.session.scalars(select(Address).where(Address.id.in_(wanted)))
        return {a.id: a for a in rows}

    async def members(
        self, model: type[Owned], company_id: uuid.UUID, *, deleted_at: dt.datetime | None = None
    ) -> Sequence[Owned]:
        """A company's live users (or addresses); with `deleted_at`, those deleted at that instant
        (deleted together with their company)."""
        when = model.not_deleted() if deleted_at is None else model.deleted_at == deleted_at
        return (await self.session.scalars(select(model).where(model.company_id == company_id, when))).all()

    async def unrevoked_keys(self, company_id: uuid.UUID) -> Sequence[ApiKey]:
        return (await self.session.scalars(
            select(ApiKey).where(ApiKey.company_id == company_id, ApiKey.revoked_at.is_(None))
        )).all()

    async def related_counts(self, company_id: uuid.UUID) -> dict[str, int]:
        """What auth holds for a company: live users, usable API keys, live addresses."""
        now = utcnow()
        users = select(func.count()).select_from(User).where(
            User.company_id == company_id, User.not_deleted()
        )
        keys = select(func.count()).select_from(ApiKey).where(
            ApiKey.company_id == company_id, ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )
        addresses = select(func.count()).select_from(Address).where(
            Address.company_id == company_id, Address.not_deleted()
        )
        return {
            "users": int(await self.session.scalar(users) or 0),
            "active_api_keys": int(await self.session.scalar(keys) or 0),
            "addresses": int(await self.session.scalar(addresses) or 0),
        }
