"""A company's lifecycle (super admins): soft delete, restore, in bulk, and cascade delete.

A deleted company is refused everywhere at once: the gateway refuses every credential of
the company while `auth:company-disabled:<id>` exists in Redis (set once the deletion
commits, removed once a restore commits), and every service learns of it from
`auth.company.deleted.v1` / `auth.company.restored.v1`.

Cascade delete also soft-deletes the company's users and addresses at the company's own
deletion instant, so a restore brings back exactly what was deleted with it; API keys are
revoked for good (a restored company makes new ones).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.apikeys.service import revoke_keys
from knowrithm_auth.audit import audit
from knowrithm_auth.companies.repository import CompaniesRepository
from knowrithm_auth.models import Address, Company, User, outbox
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.signout import force_sign_out
from knowrithm_common.db import after_commit
from knowrithm_common.db.base import utcnow
from knowrithm_common.db.softdelete import SoftDeleteMixin
from knowrithm_common.errors import CompanyNotFound, Conflict
from knowrithm_common.events import Actor
from knowrithm_common.events.auth import CompanyDeletedV1, CompanyRestoredV1, UserUpdatedV1
from knowrithm_common.tokens import COMPANY_DISABLED_KEY


class CompanyAlreadyDeleted(Conflict):
    code, message = "company_already_deleted", "The company is already deleted"


class CompanyNotDeleted(Conflict):
    code, message = "company_not_deleted", "The company is not deleted"


@dataclass(frozen=True)
class Lifecycle:
    """What every lifecycle change needs: the transaction, Redis, and who acts."""

    session: AsyncSession
    redis: Redis
    actor: Actor


@dataclass(frozen=True)
class CascadeResult:
    company: Company
    users: int
    addresses: int
    api_keys_revoked: int

    def counts(self) -> dict[str, int]:
        return {"users": self.users, "addresses": self.addresses, "api_keys_revoked": self.api_keys_revoked}


def _disable_after_commit(ctx: Lifecycle, company_id: uuid.UUID, *, disabled: bool) -> None:
    key = COMPANY_DISABLED_KEY.format(company_id=company_id)

    async def write() -> None:
        if disabled:
            await ctx.redis.set(key, "1")
        else:
            await ctx.redis.delete(key)

    after_commit(ctx.session, write)


async def _users_changed(ctx: Lifecycle, company_id: uuid.UUID, users: Sequence[User], change: str) -> None:
    for user in users:
        updated = UserUpdatedV1(user_id=user.id, company_id=company_id, change=change, status=user.status,
                                role=user.role)
        await outbox.add(ctx.session, updated, company_id=company_id, actor=ctx.actor)


async def _mark_deleted(
    ctx: Lifecycle, company: Company, *, cascade: bool, instant: dt.datetime,
    detail: dict[str, int] | None = None,
) -> None:
    company.deleted_at = instant
    await ctx.session.flush()
    await outbox.add(ctx.session, CompanyDeletedV1(company_id=company.id, cascade=cascade),
                     company_id=company.id, actor=ctx.actor)
    await audit(ctx.session, action="company.cascade_deleted" if cascade else "company.deleted",
                actor=ctx.actor, company_id=company.id, target_type="company", target_id=company.id,
                detail=detail)
    _disable_after_commit(ctx, company.id, disabled=True)


async def _mark_restored(ctx: Lifecycle, company: Company) -> None:
    """Restore the company and whatever was deleted with it (same instant)."""
    repo = CompaniesRepository(ctx.session)
    instant = company.deleted_at
    assert instant is not None
    users = await repo.members(User, company.id, deleted_at=instant)
    rows: list[SoftDeleteMixin] = [*users, *await repo.members(Address, company.id, deleted_at=instant)]
    for row in rows:
        row.deleted_at = None
    company.deleted_at = None
    await ctx.session.flush()
    await _users_changed(ctx, company.id, users, "restored")
    await outbox.add(ctx.session, CompanyRestoredV1(company_id=company.id), company_id=company.id,
                     actor=ctx.actor)
    await audit(ctx.session, action="company.restored", actor=ctx.actor, company_id=company.id,
                target_type="company", target_id=company.id, detail={"users_restored": len(users)})
    _disable_after_commit(ctx, company.id, disabled=False)


async def _locked(ctx: Lifecycle, company_id: uuid.UUID) -> Company:
    company = (await CompaniesRepository(ctx.session).lock([company_id])).get(company_id)
    if company is None:
        raise CompanyNotFound()
    return company


async def delete_company(ctx: Lifecycle, company_id: uuid.UUID) -> Company:
    """Soft-delete a company; its users can no longer sign in or use their tokens and keys."""
    company = await _locked(ctx, company_id)
    if company.deleted_at is not None:
        raise CompanyAlreadyDeleted()
    await _mark_deleted(ctx, company, cascade=False, instant=utcnow())
    return company


async def restore_company(ctx: Lifecycle, company_id: uuid.UUID) -> Company:
    """Restore a soft-deleted company."""
    company = await _locked(ctx, company_id)
    if company.deleted_at is None:
        raise CompanyNotDeleted()
    await _mark_restored(ctx, company)
    return company


def _unique(ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    return list(dict.fromkeys(ids))


async def bulk_delete(ctx: Lifecycle, company_ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, str]]:
    """Soft-delete several companies in one transaction; what happened to each id."""
    ids = _unique(company_ids)
    companies = await CompaniesRepository(ctx.session).lock(ids)
    instant = utcnow()
    results: list[tuple[uuid.UUID, str]] = []
    for company_id in ids:
        company = companies.get(company_id)
        if company is None:
            results.append((company_id, "not_found"))
        elif company.deleted_at is not None:
            results.append((company_id, "already_deleted"))
        else:
            await _mark_deleted(ctx, company, cascade=False, instant=instant)
            results.append((company_id, "deleted"))
    return results


async def bulk_restore(ctx: Lifecycle, company_ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, str]]:
    """Restore several companies in one transaction; what happened to each id."""
    ids = _unique(company_ids)
    companies = await CompaniesRepository(ctx.session).lock(ids)
    results: list[tuple[uuid.UUID, str]] = []
    for company_id in ids:
        company = companies.get(company_id)
        if company is None:
            results.append((company_id, "not_found"))
        elif company.deleted_at is None:
            results.append((company_id, "not_deleted"))
        else:
            await _mark_restored(ctx, company)
            results.append((company_id, "restored"))
    return results


async def cascade_delete(ctx: Lifecycle, company_id: uuid.UUID, *, revoker: Revocations) -> CascadeResult:
    """Soft-delete a company with its users and addresses, revoke its API keys, sign its users out.

    Works on an already deleted company too: its related data then goes the same way.
    """
    repo = CompaniesRepository(ctx.session)
    company = await _locked(ctx, company_id)
    instant = company.deleted_at or utcnow()
    users = await repo.members(User, company.id)
    addresses = await repo.members(Address, company.id)
    rows: list[SoftDeleteMixin] = [*users, *addresses]
    for row in rows:
        row.deleted_at = instant
    await ctx.session.flush()
    for user in users:
        await force_sign_out(ctx.session, revoker, user.id)
    await _users_changed(ctx, company.id, users, "deleted")
    keys = await repo.unrevoked_keys(company.id)
    await revoke_keys(ctx.session, keys, actor=ctx.actor, redis=ctx.redis)
    revoked = len(keys)
    result = CascadeResult(company=company, users=len(users), addresses=len(addresses),
                           api_keys_revoked=revoked)
    await _mark_deleted(ctx, company, cascade=True, instant=instant, detail=result.counts())
    return result
