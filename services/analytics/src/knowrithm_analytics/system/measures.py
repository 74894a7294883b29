"""What one sample measures: platform health, and each company's API traffic, over an interval.

Platform-wide (company None): the projection consumer's backlog, events it applied, webhook
deliveries waiting and given up, and the API traffic of every company. Per company: its API
traffic. API traffic over the interval is `api_requests`, `error_rate_percent` (status >= 400),
`avg_latency_ms` and `p95_latency_ms` (the last two only when there were requests).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import ApiRequestFact, WebhookDelivery, shared
from knowrithm_analytics.windows import Window
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.messaging.streams import EVENTS_STREAM

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Measure:
    """One value to record as a SystemMetricSample."""

    name: str
    type: str  # gauge | counter
    value: float
    company_id: uuid.UUID | None = None
    labels: dict[str, Any] = field(default_factory=dict)


def _traffic_columns() -> tuple[ColumnElement[Any], ...]:
    r = ApiRequestFact
    return (
        func.count().label("requests"),
        func.count().filter(r.status >= 400).label("errors"),
        func.avg(r.latency_ms).label("avg"),
        func.percentile_cont(0.95).within_group(r.latency_ms).label("p95"),
    )


def _traffic(row: Any, company_id: uuid.UUID | None, *, zero: bool) -> list[Measure]:
    requests = int(row.requests or 0) if row is not None else 0
    if not requests and not zero:
        return []
    labels = {} if company_id is None else {"company_id": str(company_id)}
    measures = [
        Measure("api_requests", "counter", requests, company_id, labels),
        Measure(
            "error_rate_percent",
            "gauge",
            round(100 * row.errors / requests, 2) if requests else 0.0,
            company_id,
            labels,
        ),
    ]
    if requests:
        measures += [
            Measure("avg_latency_ms", "gauge", round(float(row.avg), 2), company_id, labels),
            Measure("p95_latency_ms", "gauge", round(float(row.p95), 2), company_id, labels),
        ]
    return measures


def _in(window: Window) -> list[ColumnElement[bool]]:
    return [ApiRequestFact.time >= window.start, ApiRequestFact.time < window.end]


async def company_traffic(session: AsyncSession, company_id: uuid.UUID, window: Window) -> list[Measure]:
    """One company's API traffic in the window (zeros when it had none)."""
    stmt = select(*_traffic_columns()).where(*_in(window), ApiRequestFact.company_id == company_id)
    return _traffic((await session.execute(stmt)).one(), company_id, zero=True)


async def every_company_traffic(session: AsyncSession, window: Window) -> list[Measure]:
    """The API traffic of each company that had requests in the window (none for the others)."""
    stmt = (
        select(ApiRequestFact.company_id, *_traffic_columns())
        .where(*_in(window), ApiRequestFact.company_id.is_not(None))
        .group_by(ApiRequestFact.company_id)
    )
    measures: list[Measure] = []
    for row in await session.execute(stmt):
        measures += _traffic(row, row.company_id, zero=False)
    return measures


async def platform_health(
    session: AsyncSession, nats: NatsConnection, consumer: str, window: Window
) -> list[Measure]:
    """Platform-wide values: backlog, events applied, webhooks, and all API traffic."""
    measures = await _backlog(nats, consumer)
    processed = shared.processed
    applied = select(func.count()).where(
        processed.c.consumer == consumer,
        processed.c.processed_at >= window.start,
        processed.c.processed_at < window.end,
    )
    measures.append(
        Measure(
            "events_processed",
            "counter",
            int(await session.scalar(applied) or 0),
            labels={"consumer": consumer},
        )
    )
    pending = select(func.count()).where(WebhookDelivery.status == "pending")
    gave_up_at = func.coalesce(WebhookDelivery.completed_at, WebhookDelivery.last_attempt_at)
    failed = select(func.count()).where(
        WebhookDelivery.status == "failed", gave_up_at >= window.start, gave_up_at < window.end
    )
    measures += [
        Measure("webhook_deliveries_pending", "gauge", int(await session.scalar(pending) or 0)),
        Measure("webhook_deliveries_failed", "counter", int(await session.scalar(failed) or 0)),
    ]
    traffic = (await session.execute(select(*_traffic_columns()).where(*_in(window)))).one()
    return measures + _traffic(traffic, None, zero=True)


async def _backlog(nats: NatsConnection, consumer: str) -> list[Measure]:
    """Events not yet applied by the projections: waiting plus delivered but unacknowledged."""
    try:
        info = await nats.js.consumer_info(EVENTS_STREAM, consumer)
    except Exception as exc:  # NATS away, or the consumer not created yet: no value this time
        logger.warning("projection backlog unavailable: %r", exc)
        return []
    backlog = (info.num_pending or 0) + (info.num_ack_pending or 0)
    return [Measure("projection_backlog", "gauge", backlog, labels={"consumer": consumer})]
