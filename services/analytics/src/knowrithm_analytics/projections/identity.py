"""Projections of auth's events: companies, users and API keys (auth audits itself: see audit.py)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Table, case, func
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import ApiKeyFact, CompanyRegistration, UserRegistration
from knowrithm_analytics.projections.registry import Projections
from knowrithm_analytics.projections.upserts import copied, if_newer, is_newer, row, run, upsert
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.auth import (
    ApiKeyCreatedV1,
    ApiKeyRevokedV1,
    CompanyCreatedV1,
    CompanyDeletedV1,
    CompanyRestoredV1,
    CompanyUpdatedV1,
    UserRegisteredV1,
    UserUpdatedV1,
)

COMPANIES: Table = CompanyRegistration.__table__
USERS: Table = UserRegistration.__table__
API_KEYS: Table = ApiKeyFact.__table__
projections = Projections()

# --- companies -----------------------------------------------------------------------------

# What an update (always later than the sign-up) set is kept; the sign-up's time is the truth.
_COMPANY_CREATED = upsert(
    COMPANIES,
    "company_id",
    lambda x: {
        "name": case((COMPANIES.c.name == "", x.name), else_=COMPANIES.c.name),
        "email": case((COMPANIES.c.updated_at.is_(None), x.email), else_=COMPANIES.c.email),
        "is_active": func.coalesce(COMPANIES.c.is_active, x.is_active),
        "registered_at": x.registered_at,
    },
    same_company=False,
)
# Only an update newer than the last one applied replaces name, e-mail and active flag.
_COMPANY_UPDATED = upsert(
    COMPANIES,
    "company_id",
    lambda x: copied(x, ("name", "email", "is_active", "updated_at")),
    where=lambda x: is_newer(COMPANIES.c.updated_at, x.updated_at),
    same_company=False,
)
_COMPANY_LIFECYCLE = upsert(
    COMPANIES,
    "company_id",
    lambda x: copied(x, ("deleted_at", "lifecycle_at")),
    where=lambda x: is_newer(COMPANIES.c.lifecycle_at, x.lifecycle_at),
    same_company=False,
)


@projections.of(CompanyCreatedV1)
async def company_created(session: AsyncSession, event: EventEnvelope, data: CompanyCreatedV1) -> None:
    """Count a company sign-up once (filling in a row a later event may have started)."""
    await run(session, _COMPANY_CREATED, row(COMPANIES, data, is_active=True, registered_at=event.time))


@projections.of(CompanyUpdatedV1)
async def company_updated(session: AsyncSession, event: EventEnvelope, data: CompanyUpdatedV1) -> None:
    """A company's new name, e-mail and active flag (unless a newer update was applied)."""
    company = row(COMPANIES, data, updated_at=event.time, registered_at=event.time)
    await run(session, _COMPANY_UPDATED, company)


async def _company_lifecycle(
    session: AsyncSession, company_id: uuid.UUID, *, deleted_at: dt.datetime | None, at: dt.datetime
) -> None:
    """Apply a deletion or restoration unless a later one was applied already.

    If the sign-up has not been seen yet, the row starts here (no name until it arrives).
    """
    company = row(COMPANIES, company_id=company_id, name="", registered_at=at, deleted_at=deleted_at,
                  lifecycle_at=at)
    await run(session, _COMPANY_LIFECYCLE, company)


@projections.of(CompanyDeletedV1)
async def company_deleted(session: AsyncSession, event: EventEnvelope, data: CompanyDeletedV1) -> None:
    """A deleted company, and its users, leave the counts."""
    await _company_lifecycle(session, data.company_id, deleted_at=event.time, at=event.time)


@projections.of(CompanyRestoredV1)
async def company_restored(session: AsyncSession, event: EventEnvelope, data: CompanyRestoredV1) -> None:
    """A restored company, and its users, count again."""
    await _company_lifecycle(session, data.company_id, deleted_at=None, at=event.time)


# --- users ---------------------------------------------------------------------------------

_USER_REGISTERED = upsert(USERS, "user_id", lambda x: copied(x, ("username", "registered_at")))
_USER_STATE = ("role", "status", "state_time")
_USER_UPDATED = upsert(USERS, "user_id", lambda x: if_newer(USERS, x, time="state_time", columns=_USER_STATE))
_USER_LIFECYCLE = upsert(
    USERS, "user_id", lambda x: if_newer(USERS, x, time="state_time", columns=(*_USER_STATE, "deleted"))
)


@projections.of(UserRegisteredV1)
async def user_registered(session: AsyncSession, event: EventEnvelope, data: UserRegisteredV1) -> None:
    """Count a user registration once; a newer update's role and status stay."""
    user = row(USERS, data, registered_at=event.time, status="active", deleted=False, state_time=event.time)
    await run(session, _USER_REGISTERED, user)


@projections.of(UserUpdatedV1)
async def user_updated(session: AsyncSession, event: EventEnvelope, data: UserUpdatedV1) -> None:
    """A user's status, role or deletion, unless a newer change was applied already."""
    stmt = _USER_LIFECYCLE if data.change in ("deleted", "restored") else _USER_UPDATED
    user = row(USERS, data, registered_at=event.time, deleted=data.change == "deleted", state_time=event.time)
    await run(session, stmt, user)


# --- API keys ------------------------------------------------------------------------------

_KEY_FIELDS = (
    "user_id",
    "name",
    "key_prefix",
    "scopes",
    "rate_limit_per_hour",
    "rate_limit_per_day",
    "created_at",
    "expires_at",
)
_KEY_CREATED = upsert(API_KEYS, "api_key_id", lambda x: copied(x, _KEY_FIELDS))
_KEY_REVOKED = upsert(
    API_KEYS, "api_key_id", lambda x: {"revoked_at": func.least(API_KEYS.c.revoked_at, x.revoked_at)}
)


@projections.of(ApiKeyCreatedV1)
async def api_key_created(session: AsyncSession, event: EventEnvelope, data: ApiKeyCreatedV1) -> None:
    """An API key's name, scopes and limits (a revocation seen first keeps its time)."""
    await run(session, _KEY_CREATED, row(API_KEYS, data, created_at=event.time))


@projections.of(ApiKeyRevokedV1)
async def api_key_revoked(session: AsyncSession, event: EventEnvelope, data: ApiKeyRevokedV1) -> None:
    """A key's revocation time (the first one seen, if it were ever sent twice)."""
    key = row(API_KEYS, data, name="", scopes=[], created_at=event.time, revoked_at=event.time)
    await run(session, _KEY_REVOKED, key)
