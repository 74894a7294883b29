"""Event handlers that keep the registration projections (natural upserts: replay-safe)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import CompanyRegistration, UserRegistration
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.auth import CompanyCreatedV1, UserRegisteredV1
from knowrithm_common.messaging.consumer import Handler


async def company_created(session: AsyncSession, event: EventEnvelope) -> None:
    """Count a company sign-up once."""
    data = CompanyCreatedV1.model_validate(event.data)
    await session.execute(
        insert(CompanyRegistration)
        .values(company_id=data.company_id, name=data.name, registered_at=event.time)
        .on_conflict_do_nothing()
    )


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
    UserRegisteredV1.event_type: user_registered,
}
