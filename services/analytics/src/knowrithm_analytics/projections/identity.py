"""Projections of auth's events: companies, users and API keys (auth audits itself: see audit.py)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Table, case, func
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import ApiKeyFact, CompanyRegistration, UserRegistration
from knowrithm_analytics.projections.upserts import copied, if_newer, is_newer, run, upsert
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


async def company_created(session: AsyncSession, event: EventEnvelope) -> None:
    """Count a company sign-up once (filling in a row a later event may have started)."""
    data = CompanyCreatedV1.model_validate(event.data)
    await run(
        session,
        _COMPANY_CREATED,
        {
            "company_id": data.company_id,
            "name": data.name[:255],
            "email": data.email[:255],
            "is_active": True,
            "registered_at": event.time,
        },
    )


async def company_updated(session: AsyncSession, event: EventEnvelope) -> None:
    """A company's new name, e-mail and active flag (unless a newer update was applied)."""
    data = CompanyUpdatedV1.model_validate(event.data)
    await run(
        session,
        _COMPANY_UPDATED,
        {
            "company_id": data.company_id,
            "name": data.name[:255],
            "email": data.email[:255],
            "is_active": data.is_active,
            "updated_at": event.time,
            "registered_at": event.time,
        },
    )


async def _company_lifecycle(
    session: AsyncSession, company_id: uuid.UUID, *, deleted_at: dt.datetime | None, at: dt.datetime
) -> None:
    """Apply a deletion or restoration unless a later one was applied already.

    If the sign-up has not been seen yet, the row starts here (no name until it arrives).
    """
    await run(
        session,
        _COMPANY_LIFECYCLE,
        {
            "company_id": company_id,
            "name": "",
            "registered_at": at,
            "deleted_at": deleted_at,
            "lifecycle_at": at,
        },
    )


async def company_deleted(session: AsyncSession, event: EventEnvelope) -> None:
    """A deleted company, and its users, leave the counts."""
    data = CompanyDeletedV1.model_validate(event.data)
    await _company_lifecycle(session, data.company_id, deleted_at=event.time, at=event.time)


async def company_restored(session: AsyncSession, event: EventEnvelope) -> None:
    """A restored company, and its users, count again."""
    data = CompanyRestoredV1.model_validate(event.data)
    await _company_lifecycle(session, data.company_id, deleted_at=None, at=event.time)


# --- users ---------------------------------------------------------------------------------

_USER_REGISTERED = upsert(USERS, "user_id", lambda x: copied(x, ("username", "registered_at")))
_USER_STATE = ("role", "status", "state_time")
_USER_UPDATED = upsert(USERS, "user_id", lambda x: if_newer(USERS, x, time="state_time", columns=_USER_STATE))
_USER_LIFECYCLE = upsert(
    USERS, "user_id", lambda x: if_newer(USERS, x, time="state_time", columns=(*_USER_STATE, "deleted"))
)


async def user_registered(session: AsyncSession, event: EventEnvelope) -> None:
    """Count a user registration once; a newer update's role and status stay."""
    data = UserRegisteredV1.model_validate(event.data)
    await run(
        session,
        _USER_REGISTERED,
        {
            "user_id": data.user_id,
            "company_id": data.company_id,
            "role": data.role[:20],
            "registered_at": event.time,
            "username": data.username[:100],
            "status": "active",
            "deleted": False,
            "state_time": event.time,
        },
    )


async def user_updated(session: AsyncSession, event: EventEnvelope) -> None:
    """A user's status, role or deletion, unless a newer change was applied already."""
    data = UserUpdatedV1.model_validate(event.data)
    stmt = _USER_LIFECYCLE if data.change in ("deleted", "restored") else _USER_UPDATED
    await run(
        session,
        stmt,
        {
            "user_id": data.user_id,
            "company_id": data.company_id,
            "role": data.role[:20],
            "registered_at": event.time,
            "status": data.status[:30],
            "deleted": data.change == "deleted",
            "state_time": event.time,
        },
    )


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


async def api_key_created(session: AsyncSession, event: EventEnvelope) -> None:
    """An API key's name, scopes and limits (a revocation seen first keeps its time)."""
    data = ApiKeyCreatedV1.model_validate(event.data)
    await run(
        session,
        _KEY_CREATED,
        {
            "api_key_id": data.api_key_id,
            "company_id": data.company_id,
            "user_id": data.user_id,
            "name": data.name[:255],
            "key_prefix": data.key_prefix and data.key_prefix[:20],
            "scopes": data.scopes,
            "rate_limit_per_hour": data.rate_limit_per_hour,
            "rate_limit_per_day": data.rate_limit_per_day,
            "created_at": event.time,
            "expires_at": data.expires_at,
            "revoked_at": None,
        },
    )


async def api_key_revoked(session: AsyncSession, event: EventEnvelope) -> None:
    """A key's revocation time (the first one seen, if it were ever sent twice)."""
    data = ApiKeyRevokedV1.model_validate(event.data)
    await run(
        session,
        _KEY_REVOKED,
        {
            "api_key_id": data.api_key_id,
            "company_id": data.company_id,
            "user_id": None,
            "name": "",
            "key_prefix": None,
            "scopes": [],
            "rate_limit_per_hour": None,
            "rate_limit_per_day": None,
            "created_at": event.time,
            "expires_at": None,
            "revoked_at": event.time,
        },
    )
