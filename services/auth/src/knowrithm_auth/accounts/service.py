"""Account use cases: company sign-up, registration, login, bootstrap. Flushes, never commits."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.accounts.passwords import hash_password, verify_password
from knowrithm_auth.accounts.repository import AccountsRepository
from knowrithm_auth.accounts.schemas import CompanyCreate, UserRegister
from knowrithm_auth.models import Company, User, platform
from knowrithm_common.errors import Conflict, NotFound, Unauthorized
from knowrithm_common.events import Actor, new_event
from knowrithm_common.events.auth import CompanyCreatedV1, UserRegisteredV1
from knowrithm_common.messaging.outbox import record_event

SOURCE = "auth"


class CompanyEmailTaken(Conflict):
    code, message = "company_exists", "A company with this e-mail already exists"


class UserExists(Conflict):
    code = "user_exists"


class CompanyNotFound(NotFound):
    code, message = "company_not_found", "Company not found"


class InvalidCredentials(Unauthorized):
    code, message = "invalid_credentials", "Invalid credentials"


class AccountInactive(Unauthorized):
    code, message = "account_inactive", "Account is not active"


async def create_company(session: AsyncSession, data: CompanyCreate, actor: Actor) -> Company:
    """Create a company and record `auth.company.created.v1` in the same transaction."""
    repo = AccountsRepository(session)
    if await repo.company_email_taken(data.email):
        raise CompanyEmailTaken()
    company = Company(id=uuid.uuid4(), is_active=True, **data.model_dump())
    repo.add(company)
    await session.flush()
    event = CompanyCreatedV1(company_id=company.id, name=company.name, email=company.email)
    await record_event(
        session, platform.outbox, new_event(event, source=SOURCE, company_id=company.id, actor=actor)
    )
    return company


async def register_user(
    session: AsyncSession, data: UserRegister, actor: Actor, *, role: str = "admin"
) -> User:
    """Create a user in an existing company and record `auth.user.registered.v1`."""
    repo = AccountsRepository(session)
    if await repo.company(data.company_id) is None:
        raise CompanyNotFound()
    taken = await repo.identity_taken(data.email, data.username)
    if taken is not None:
        raise UserExists(f"A user with this {taken} already exists", detail={"field": taken})
    user = User(
        id=uuid.uuid4(),
        company_id=data.company_id,
        email=data.email,
        username=data.username,
        password_hash=await hash_password(data.password),
        first_name=data.first_name,
        last_name=data.last_name,
        role=role,
        status="active",
        email_verified=False,
        failed_login_attempts=0,
    )
    repo.add(user)
    await session.flush()
    await _record_registration(session, user, actor)
    return user


async def _record_registration(session: AsyncSession, user: User, actor: Actor) -> None:
    event = UserRegisteredV1(
        user_id=user.id,
        company_id=user.company_id,
        email=user.email,
        username=user.username,
        role=user.role,
    )
    await record_event(
        session, platform.outbox, new_event(event, source=SOURCE, company_id=user.company_id, actor=actor)
    )


async def authenticate(session: AsyncSession, email: str, password: str) -> User:
    """The active user with these credentials."""
    user = await AccountsRepository(session).user_by_email(email)
    ok = await verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        raise InvalidCredentials()
    if user.status != "active":
        raise AccountInactive()
    user.failed_login_attempts = 0
    user.last_login_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return user


async def ensure_super_admin(
    session: AsyncSession, *, email: str, username: str, first_name: str, last_name: str, password: str
) -> bool:
    """Create the bootstrap super admin if no user has that e-mail; True when created."""
    repo = AccountsRepository(session)
    if await repo.user_by_email(email) is not None:
        return False
    user = User(
        id=uuid.uuid4(),
        company_id=None,
        email=email,
        username=username,
        password_hash=await hash_password(password),
        first_name=first_name,
        last_name=last_name,
        role="super_admin",
        status="active",
        email_verified=True,
        failed_login_attempts=0,
    )
    repo.add(user)
    await session.flush()
    await _record_registration(session, user, Actor(kind="system"))
    return True
