"""Every query of the accounts domain."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.models import Company, User


class AccountsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def company(self, company_id: uuid.UUID, *, lock: bool = False) -> Company | None:
        """A live company; `lock` serialises concurrent registrations into it."""
        stmt = select(Company).where(Company.id == company_id, Company.not_deleted())
        return await self.session.scalar(stmt.with_for_update() if lock else stmt)

    async def company_has_users(self, company_id: uuid.UUID) -> bool:
        found = await self.session.scalar(select(User.id).where(User.company_id == company_id).limit(1))
        return found is not None

    async def user_by_email(self, email: str) -> User | None:
        return await self.session.scalar(
            select(User).where(func.lower(User.email) == email.lower(), User.not_deleted())
        )

    async def user_in_company(self, user_id: uuid.UUID, company_id: uuid.UUID | None) -> User | None:
        """A user, only if it belongs to `company_id` (None: super admins, no company)."""
        stmt = select(User).where(User.id == user_id, User.not_deleted())
        stmt = stmt.where(User.company_id.is_(None) if company_id is None else User.company_id == company_id)
        return await self.session.scalar(stmt)

    async def user_by_id(self, user_id: uuid.UUID) -> User | None:
        """Any live user, whatever the company (for super-admin actions)."""
        return await self.session.scalar(select(User).where(User.id == user_id, User.not_deleted()))

    async def identity_taken(self, email: str, username: str) -> str | None:
        """Which of e-mail or username is already used, if any."""
        row = (
            await self.session.execute(
                select(User.email, User.username).where(
                    (func.lower(User.email) == email.lower())
                    | (func.lower(User.username) == username.lower())
                )
            )
        ).first()
        if row is None:
            return None
        return "email" if row.email.lower() == email.lower() else "username"

    def add(self, entity: Company | User) -> None:
        self.session.add(entity)
