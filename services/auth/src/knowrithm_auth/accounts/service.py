"""Account use cases: registration, users inside a company, login with lock-out, the caller's
profile, impersonation, bootstrap.

Flushes, never commits. Refused logins are recorded (failed-attempt count, lock-out, audit)
in their own transaction, because the request's own transaction rolls back with the error.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import case, func, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.accounts.passwords import RESET_REQUIRED_MARK, hash_password, verify_password
from knowrithm_auth.accounts.repository import AccountsRepository
from knowrithm_auth.accounts.schemas import UserCreate, UserRegister
from knowrithm_auth.accounts.tokens import TokenIssuer
from knowrithm_auth.audit import audit, audit_refusal, audit_user
from knowrithm_auth.config import AuthSettings
from knowrithm_auth.models import Company, User, outbox
from knowrithm_auth.verification.service import MailContext, send_verification
from knowrithm_common.db.base import utcnow
from knowrithm_common.db.session import Database
from knowrithm_common.errors import (
    CompanyNotFound,
    Conflict,
    Forbidden,
    KnowrithmError,
    NotFound,
    Unauthorized,
)
from knowrithm_common.events import Actor
from knowrithm_common.events.auth import UserRegisteredV1
from knowrithm_common.identity import Principal, Role
from knowrithm_common.tenancy import Subject


class UserExists(Conflict):
    code = "user_exists"


class RegistrationClosed(Forbidden):
    code, message = (
        "registration_closed",
        "This company already has users; an admin of the company must add you (POST /api/v1/auth/user)",
    )


class InvalidCredentials(Unauthorized):
    code, message = "invalid_credentials", "Invalid credentials"


class AccountLocked(KnowrithmError):
    status_code, code, message = 423, "account_locked", "Account is locked after repeated failed logins"


class AccountInactive(Forbidden):
    code, message = "account_inactive", "Account is not active"


class PasswordResetRequired(Forbidden):
    code, message = (
        "password_reset_required",
        "An administrator requires a new password: use the reset e-mail",
    )


class CompanyInactive(Forbidden):
    code, message = "company_inactive", "The account's company is deleted or deactivated"


def _new_user(
    *, company_id: uuid.UUID | None, data: UserCreate | UserRegister, password_hash: str, role: str
) -> User:
    return _user(company_id=company_id, email=str(data.email), username=data.username,
                 password_hash=password_hash, first_name=data.first_name, last_name=data.last_name, role=role)


def _user(*, email_verified: bool = False, **fields: object) -> User:
    """A new active account with the platform's defaults (English, UTC, no preferences)."""
    return User(id=uuid.uuid4(), status="active", email_verified=email_verified, failed_login_attempts=0,
                language="en", timezone="UTC", preferences={}, **fields)


async def _add_user(session: AsyncSession, user: User, actor: Actor) -> None:
    """Add a new account and record `auth.user.registered.v1`; e-mail and username must be free."""
    repo = AccountsRepository(session)
    taken = await repo.identity_taken(user.email, user.username)
    if taken is not None:
        raise UserExists(f"A user with this {taken} already exists", detail={"field": taken})
    repo.add(user)
    await session.flush()
    registered = UserRegisteredV1(user_id=user.id, company_id=user.company_id, email=user.email,
                                  username=user.username, role=user.role)
    await outbox.add(session, registered, company_id=user.company_id, actor=actor)


async def register_user(
    session: AsyncSession, data: UserRegister, actor: Actor, *, mail: MailContext
) -> User:
    """Register the first (admin) user of a freshly signed-up company, and mail a verification link."""
    repo = AccountsRepository(session)
    company = await repo.company(data.company_id, lock=True)
    if company is None:
        raise CompanyNotFound()
    if await repo.company_has_users(company.id):
        raise RegistrationClosed()
    user = _new_user(
        company_id=company.id, data=data, password_hash=await hash_password(data.password), role="admin"
    )
    await _add_user(session, user, actor)
    await send_verification(session, mail, user)
    return user


async def create_company_user(
    session: AsyncSession, data: UserCreate, *, company_id: uuid.UUID, actor: Actor, mail: MailContext
) -> User:
    """An admin adds a user to their own company; the new user gets a verification mail."""
    if await AccountsRepository(session).company(company_id) is None:
        raise CompanyNotFound()
    user = _new_user(
        company_id=company_id, data=data, password_hash=await hash_password(data.password), role=data.role
    )
    await _add_user(session, user, actor)
    await audit_user(session, "user.created", actor=actor, user=user, detail={"role": user.role})
    await send_verification(session, mail, user)
    return user


async def authenticate(
    session: AsyncSession, *, db: Database, email: str, password: str, actor: Actor, settings: AuthSettings
) -> User:
    """The user these credentials sign in, counting failures and locking repeated ones out."""
    user = await AccountsRepository(session).user_by_email(email)
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        await _refuse(db, user, actor, "account_locked")
        retry = max(1, int((user.locked_until - now).total_seconds()))
        raise AccountLocked(
            detail={"locked_until": user.locked_until.isoformat()}, headers={"Retry-After": str(retry)}
        )
    stored = user.password_hash if user else None
    if stored is not None and stored.startswith(RESET_REQUIRED_MARK):
        stored = stored[len(RESET_REQUIRED_MARK) :]  # the right old password gets a clearer 403
    if user is None or not await verify_password(stored, password):
        locked = await _count_failure(db, user, settings) if user is not None else False
        await _refuse(db, user, actor, "invalid_credentials", email=email)
        if locked:
            raise AccountLocked(headers={"Retry-After": str(settings.lockout_minutes * 60)})
        raise InvalidCredentials()
    await _check_can_sign_in(session, db, user, actor)
    user.failed_login_attempts = 0
    user.locked_until = None
    user.last_login_at = now
    await session.flush()
    await audit_user(session, "user.login", actor=actor.model_copy(update={"id": user.id, "kind": "user"}),
                     user=user)
    return user


async def _sign_in_refusal(session: AsyncSession, user: User) -> KnowrithmError | None:
    """Why `user` may not hold a session right now, if they may not."""
    if user.password_hash.startswith(RESET_REQUIRED_MARK):
        return PasswordResetRequired()
    if user.status != "active":
        return AccountInactive(detail={"status": user.status})
    if user.company_id is not None:
        company = await session.get(Company, user.company_id)
        if company is None or company.deleted_at is not None or not company.is_active:
            return CompanyInactive()
    return None


async def _check_can_sign_in(session: AsyncSession, db: Database, user: User, actor: Actor) -> None:
    error = await _sign_in_refusal(session, user)
    if error is not None:
        await _refuse(db, user, actor, error.code)
        raise error


async def renew_session(session: AsyncSession, user: User, *, family: uuid.UUID, actor: Actor) -> None:
    """Let `user` renew sign-in session `family` (audited), unless they were suspended or reset, or
    their company went away."""
    error = await _sign_in_refusal(session, user)
    if error is not None:
        raise error
    await audit(session, action="session.refreshed", actor=actor.model_copy(update={"id": user.id}),
                company_id=user.company_id, target_type="session", target_id=family)


async def _count_failure(db: Database, user: User, settings: AuthSettings) -> bool:
    """Add one failed attempt (atomically); True when this attempt locked the account."""
    lock_at = settings.max_failed_logins
    until = func.now() + dt.timedelta(minutes=settings.lockout_minutes)
    async with db.session() as s, s.begin():
        row = (
            await s.execute(
                update(User)
                .where(User.id == user.id)
                .values(
                    failed_login_attempts=User.failed_login_attempts + 1,
                    locked_until=case(
                        (User.failed_login_attempts + 1 >= lock_at, until), else_=User.locked_until
                    ),
                )
                .returning(User.failed_login_attempts)
            )
        ).one()
    return bool(row.failed_login_attempts >= lock_at)


async def _refuse(
    db: Database, user: User | None, actor: Actor, reason: str, *, email: str | None = None
) -> None:
    await audit_refusal(
        db,
        action="user.login",
        actor=actor,
        company_id=user.company_id if user else None,
        reason=reason,
        target_type="user",
        target_id=user.id if user else None,
        detail={"email": email} if user is None and email else None,
    )


async def ensure_super_admin(session: AsyncSession, settings: AuthSettings) -> bool:
    """Create the bootstrap super admin named by SUPER_ADMIN_* if no user has that e-mail."""
    email = settings.super_admin_email
    if not email or await AccountsRepository(session).user_by_email(email) is not None:
        return False
    user = _user(
        company_id=None, email=email, username=settings.super_admin_username,
        password_hash=await hash_password(settings.super_admin_password.get_secret_value()),
        first_name=settings.super_admin_first_name, last_name=settings.super_admin_last_name,
        role="super_admin", email_verified=True,
    )
    system = Actor(kind="system")
    await _add_user(session, user, system)
    await audit_user(session, "super_admin.bootstrapped", actor=system, user=user)
    return True


async def own_user(session: AsyncSession, principal: Principal) -> User:
    """The caller's own account (an API key's: its owner's), in the caller's company."""
    if principal.user_id is None:
        raise NotFound("No user behind these credentials")
    user = await AccountsRepository(session).user_in_company(principal.user_id, principal.company_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def update_profile(session: AsyncSession, subject: Subject, changes: dict[str, Any]) -> User:
    """Set the given fields of the caller's own profile."""
    user = await own_user(session, subject.principal)
    for field, value in changes.items():
        setattr(user, field, value)
    await session.flush()
    await audit_user(session, "user.profile_updated", actor=subject.actor, user=user,
                     detail={"fields": sorted(changes)})
    return user


async def impersonate(
    session: AsyncSession, subject: Subject, user_id: uuid.UUID, *, issuer: TokenIssuer, ttl_seconds: int
) -> tuple[User, str]:
    """A short access token acting as the user, for a super admin's own session; audited."""
    if subject.principal.kind != "user" or subject.principal.impersonator_id is not None:
        raise Forbidden("Impersonation needs a super admin's own access token")
    target = await AccountsRepository(session).user_by_id(user_id)
    if target is None:
        raise NotFound("User not found")
    if target.role == Role.SUPER_ADMIN:
        raise Forbidden("Super admins cannot be impersonated")
    token = issuer.access_token(target, impersonator_id=subject.principal.user_id, ttl_seconds=ttl_seconds)
    await audit_user(session, "user.impersonated", actor=subject.actor, user=target,
                     detail={"expires_in": ttl_seconds})
    return target, token
