"""Every query of webhooks and their deliveries; scoped by company (None: a super admin's any)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import Webhook, WebhookDelivery
from knowrithm_common.pagination import PageParams, Pagination, paginate


def _scoped(stmt: Select[Any], company_id: uuid.UUID | None) -> Select[Any]:
    return stmt if company_id is None else stmt.where(Webhook.company_id == company_id)


async def list_webhooks(session: AsyncSession, company_id: uuid.UUID | None) -> Sequence[Webhook]:
    """The company's webhooks (not deleted), oldest first."""
    stmt = select(Webhook).where(Webhook.deleted_at.is_(None)).order_by(Webhook.created_at, Webhook.id)
    return (await session.execute(_scoped(stmt, company_id))).scalars().all()


async def count_webhooks(session: AsyncSession, company_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(Webhook.company_id == company_id, Webhook.deleted_at.is_(None))
    return int((await session.execute(stmt)).scalar_one())


async def get_webhook(
    session: AsyncSession, webhook_id: uuid.UUID, company_id: uuid.UUID | None, *, lock: bool = False
) -> Webhook | None:
    """A webhook that is not deleted, if it belongs to the company."""
    stmt = _scoped(select(Webhook).where(Webhook.id == webhook_id, Webhook.deleted_at.is_(None)), company_id)
    return (await session.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()


async def active_webhooks(session: AsyncSession, company_id: uuid.UUID) -> Sequence[Webhook]:
    """The company's webhooks that receive events now."""
    stmt = select(Webhook).where(
        Webhook.company_id == company_id, Webhook.is_active.is_(True), Webhook.deleted_at.is_(None)
    )
    return (await session.execute(stmt)).scalars().all()


async def insert_delivery(
    session: AsyncSession, *, webhook: Webhook, event_id: str, event_type: str, event: dict[str, Any]
) -> uuid.UUID | None:
    """A new pending delivery of the event to the webhook; None if it already has one."""
    stmt = (
        pg_insert(WebhookDelivery)
        .values(
            id=uuid.uuid4(), webhook_id=webhook.id, company_id=webhook.company_id, event_id=event_id,
            event_type=event_type, event=event, status="pending", attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
        .returning(WebhookDelivery.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_deliveries(
    session: AsyncSession, webhook_id: uuid.UUID, *, status: str | None, page: PageParams,
    event_id: str | None = None,
) -> tuple[Sequence[WebhookDelivery], Pagination]:
    """One page of the webhook's deliveries (in `status`, of `event_id`, if given), newest first."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if event_id is not None:
        stmt = stmt.where(WebhookDelivery.event_id == event_id)
    stmt = stmt.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    return await paginate(session, stmt, page)


async def get_delivery(
    session: AsyncSession, delivery_id: uuid.UUID, *, webhook_id: uuid.UUID | None = None, lock: bool = False
) -> WebhookDelivery | None:
    stmt = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    if webhook_id is not None:
        stmt = stmt.where(WebhookDelivery.webhook_id == webhook_id)
    return (await session.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()


async def get_webhook_any(session: AsyncSession, webhook_id: uuid.UUID) -> Webhook | None:
    """The webhook whatever its state (deleted too): for the delivery worker."""
    return (await session.execute(select(Webhook).where(Webhook.id == webhook_id))).scalar_one_or_none()


async def delivered_event(session: AsyncSession, delivery_id: uuid.UUID) -> dict[str, Any] | None:
    """The envelope a delivery carries (kept on the delivery: a manual retry sends it again)."""
    event = await session.scalar(select(WebhookDelivery.event).where(WebhookDelivery.id == delivery_id))
    return None if event is None else dict(event)


async def prune_deliveries(session: AsyncSession, before: dt.datetime) -> int:
    """Delete finished (succeeded or failed) deliveries completed before `before`; how many."""
    result = await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.status != "pending", WebhookDelivery.completed_at < before
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
