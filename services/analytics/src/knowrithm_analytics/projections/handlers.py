"""Event handlers that keep the registration projections (natural upserts: replay-safe)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import CompanyRegistration, UserRegistration
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.auth import (
    CompanyCreatedV1,
    CompanyDeletedV1,
    CompanyRestoredV1,
    UserRegisteredV1,
)
from knowrithm_common.messaging.consumer import Handler


async def company_created(session: AsyncSession, event: EventEnvelope) -> None:
    """Count a company sign-up once (filling in a row a lifecycle event may have started)."""
    data = CompanyCreatedV1.model_validate(event.data)
    stmt = insert(CompanyRegistration).values(
        company_id=data.company_id, name=data.name, registered_at=event.time
    )
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[CompanyRegistration.company_id],
        set_={"name": stmt.excluded.name, "registered_at": stmt.excluded.registered_at},
    ))


async def _company_lifecycle(
    session: AsyncSession, company_id: uuid.UUID, *, deleted_at: dt.datetime | None, at: dt.datetime
) -> None:
    """Apply a deletion or restoration unless a later one was applied already.

    If the sign-up has not been seen yet, the row starts here (no name until it arrives).
    """
    stmt = insert(CompanyRegistration).values(
        company_id=company_id, name="", registered_at=at, deleted_at=deleted_at, lifecycle_at=at
    )
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[CompanyRegistration.company_id],
        set_={"deleted_at": deleted_at, "lifecycle_at": at},
        where=or_(CompanyRegistration.lifecycle_at.is_(None), CompanyRegistration.lifecycle_at < at),
    ))


async def company_deleted(session: AsyncSession, event: EventEnvelope) -> None:
    """A deleted company, and its users, leave the counts."""
    data = CompanyDeletedV1.model_validate(event.data)
    await _company_lifecycle(session, data.company_id, deleted_at=event.time, at=event.time)


async def company_restored(session: AsyncSession, event: EventEnvelope) -> None:
    """A restored company, and its users, count again."""
    data = CompanyRestoredV1.model_validate(event.data)
    await _company_lifecycle(session, data.company_id, deleted_at=None, at=event.time)


async def user_registered(session: AsyncSession, event: EventEnvelope) -> None:
    """Count a user registration once."""
    data = UserRegisteredV1.model_validate(event.data)
    await session.execute(
        insert(UserRegistration)
        .values(user_id=data.user_id, company_id=data.company_id, role=data.role, registered_at=event.time)
        .on_conflict_do_nothing()
    )


HANDLERS: dict[str, Handler] = {
    CompanyCreatedV1.event_type: company_created,
    CompanyDeletedV1.event_type: company_deleted,
    CompanyRestoredV1.event_type: company_restored,
    UserRegisteredV1.event_type: user_registered,
}
