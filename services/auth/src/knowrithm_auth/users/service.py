"""User administration use cases: listing, reading, status, role, forced password reset.

Flushes, never commits. Rules: nobody changes their own role or status; only super admins
touch super admins or grant that role; a company keeps at least one active admin. A change
that must end a user's access signs them out everywhere (refresh tokens revoked now, access
tokens refused by the gateway once the change commits).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.accounts.passwords import require_password_reset
from knowrithm_auth.apikeys.service import evict_after_commit, revoke_keys
from knowrithm_auth.audit import audit, audit_user
from knowrithm_auth.models import User, outbox
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.signout import force_sign_out
from knowrithm_auth.users.repository import UsersRepository
from knowrithm_auth.users.schemas import RoleChange, StatusChange, UserFilters
from knowrithm_auth.verification.service import MailContext, send_password_reset
from knowrithm_common.errors import CompanyNotFound, Conflict, Forbidden, NotFound
from knowrithm_common.events.auth import UserUpdatedV1
from knowrithm_common.identity import Principal
from knowrithm_common.pagination import PageParams, Pagination
from knowrithm_common.tenancy import Subject


class UserNotFound(NotFound):
    code, message = "user_not_found", "User not found"


class CannotChangeSelf(Forbidden):
    code, message = "cannot_change_self", "You cannot change your own role or status"


class CannotGrantSuperAdmin(Forbidden):
    code, message = "cannot_grant_super_admin", "Only a super admin can grant the super_admin role"


class LastActiveAdmin(Conflict):
    code, message = "last_active_admin", "A company must keep at least one active admin"


class SuperAdminHasNoCompany(Conflict):
    code = "super_admin_has_no_company"
    message = "A super admin belongs to no company, so cannot become a company admin or user"


@dataclass(frozen=True)
class Admin:
    """An admin changing a user: who (the subject), the transaction, and what signs users out."""

    session: AsyncSession
    subject: Subject
    revoker: Revocations
    redis: Redis
    mail: MailContext


async def list_users(
    session: AsyncSession, *, company_id: uuid.UUID | None, filters: UserFilters, params: PageParams
) -> tuple[Sequence[User], Pagination]:
    """One page of the users of `company_id` (None: of every company, for super admins)."""
    repo = UsersRepository(session)
    if company_id is not None and not await repo.company_exists(company_id):
        raise CompanyNotFound()
    return await repo.page(company_id=company_id, filters=filters, params=params)


async def find_user(session: AsyncSession, subject: Subject, user_id: uuid.UUID) -> User:
    """A live user of the subject's company (a super admin's: any user, or of the company named)."""
    repo = UsersRepository(session)
    if subject.company_id is None:
        user = await repo.user_anywhere(user_id)
    else:
        user = await repo.user_in_company(user_id, subject.company_id)
    if user is None:
        raise UserNotFound()
    return user


def _check_target(principal: Principal, user: User) -> None:
    if principal.user_id == user.id:
        raise CannotChangeSelf()
    if user.role == "super_admin" and not principal.is_super_admin:
        raise UserNotFound()  # admins cannot see super admins at all


async def _keep_an_admin(repo: UsersRepository, user: User, *, role: str, status: str) -> None:
    """Refuse a change that would leave the user's company without an active admin."""
    if user.company_id is None or not (user.role == "admin" and user.status == "active"):
        return
    if role == "admin" and status == "active":
        return
    await repo.lock_company(user.company_id)
    if await repo.other_active_admins(user.company_id, user.id) == 0:
        raise LastActiveAdmin()


async def change_status(admin: Admin, user_id: uuid.UUID, change: StatusChange) -> User:
    """Set a user's status; any status but `active` signs them out everywhere."""
    session = admin.session
    user = await find_user(session, admin.subject, user_id)
    _check_target(admin.subject.principal, user)
    before = user.status
    if before == change.status:
        await audit_user(session, "user.status_changed", actor=admin.subject.actor, user=user,
                         detail={"from": before, "unchanged": True})
        return user
    repo = UsersRepository(session)
    await _keep_an_admin(repo, user, role=user.role, status=change.status)
    user.status = change.status
    await session.flush()
    if change.status != "active":
        await force_sign_out(session, admin.revoker, user.id)
    evict_after_commit(session, admin.redis, [k.key_hash for k in await repo.live_keys_of_user(user.id)])
    updated = UserUpdatedV1(user_id=user.id, company_id=user.company_id, change="status", status=user.status,
                            role=user.role)
    await outbox.add(session, updated, company_id=user.company_id, actor=admin.subject.actor)
    await audit_user(session, "user.status_changed", actor=admin.subject.actor, user=user,
                     detail={"from": before, "to": user.status, "reason": change.reason})
    return user


async def change_role(admin: Admin, user_id: uuid.UUID, change: RoleChange) -> User:
    """Set a user's role and sign them out (tokens carry the role).

    Granting `super_admin` (super admins only) takes the user out of their company, as super
    admins belong to none, and revokes the API keys they made for it.
    """
    session, principal = admin.session, admin.subject.principal
    user = await find_user(session, admin.subject, user_id)
    _check_target(principal, user)
    if change.role == "super_admin" and not principal.is_super_admin:
        raise CannotGrantSuperAdmin()
    before, company_id = user.role, user.company_id
    if before == change.role:
        await audit_user(session, "user.role_changed", actor=admin.subject.actor, user=user,
                         detail={"from": before, "unchanged": True})
        return user
    if before == "super_admin":
        raise SuperAdminHasNoCompany()
    repo = UsersRepository(session)
    await _keep_an_admin(repo, user, role=change.role, status=user.status)
    keys = await repo.live_keys_of_user(user.id)
    if change.role == "super_admin":
        await revoke_keys(session, keys, actor=admin.subject.actor, redis=admin.redis)
        user.company_id = None
    else:
        evict_after_commit(session, admin.redis, [k.key_hash for k in keys])
    user.role = change.role
    await session.flush()
    await force_sign_out(session, admin.revoker, user.id)
    updated = UserUpdatedV1(user_id=user.id, company_id=company_id, change="role", status=user.status,
                            role=user.role)
    await outbox.add(session, updated, company_id=company_id, actor=admin.subject.actor)
    await audit(session, action="user.role_changed", actor=admin.subject.actor, company_id=company_id,
                target_type="user", target_id=user.id, detail={"from": before, "to": user.role})
    return user


async def force_password_reset(admin: Admin, user_id: uuid.UUID) -> User:
    """Invalidate a user's password, sign them out and mail them a reset link."""
    session = admin.session
    user = await find_user(session, admin.subject, user_id)
    if user.role == "super_admin" and not admin.subject.is_super_admin:
        raise UserNotFound()
    user.password_hash = require_password_reset(user.password_hash)
    await session.flush()
    await force_sign_out(session, admin.revoker, user.id)
    await send_password_reset(session, admin.mail, user, forced=True)
    await audit_user(session, "user.password_reset_forced", actor=admin.subject.actor, user=user)
    return user
