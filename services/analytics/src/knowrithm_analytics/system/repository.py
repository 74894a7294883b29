"""Reading and writing sampled system metrics (SystemMetricSample)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import SystemMetricSample
from knowrithm_analytics.system.measures import Measure

S = SystemMetricSample
POINTS_PER_METRIC = 1000
# Samples taken by the periodic sampler carry this label; samples taken on request carry "requested".
SCHEDULED = {"sample": "scheduled"}
REQUESTED = {"sample": "requested"}
# The platform metric that marks a scheduled sample: every platform sample records it.
MARKER_METRIC = "api_requests"


def _owner(company_id: uuid.UUID | None) -> ColumnElement[bool]:
    return S.company_id.is_(None) if company_id is None else S.company_id == company_id


async def record(
    session: AsyncSession, measures: Iterable[Measure], *, at: dt.datetime, labels: dict[str, str]
) -> None:
    """Add one sample row per measure, all stamped `at`."""
    rows = [
        {
            "id": uuid.uuid4(),
            "time": at,
            "company_id": m.company_id,
            "metric_name": m.name,
            "metric_type": m.type,
            "value": float(m.value),
            "labels": {**m.labels, **labels},
        }
        for m in measures
    ]
    if rows:
        await session.execute(insert(S), rows)


async def last_scheduled(session: AsyncSession) -> dt.datetime | None:
    """When the last scheduled platform sample was taken (its interval ends there)."""
    stmt = select(func.max(S.time)).where(
        S.company_id.is_(None), S.metric_name == MARKER_METRIC, S.labels.contains(SCHEDULED)
    )
    return await session.scalar(stmt)


async def prune(session: AsyncSession, before: dt.datetime) -> int:
    """Delete samples older than `before`; returns how many."""
    result = await session.execute(delete(S).where(S.time < before))
    return int(getattr(result, "rowcount", 0) or 0)


async def recent(
    session: AsyncSession, company_id: uuid.UUID | None, since: dt.datetime
) -> dict[str, list[dict[str, Any]]]:
    """The newest `POINTS_PER_METRIC` samples of each metric since `since`, oldest first.

    `company_id` None reads the platform-wide samples.
    """
    newest = func.row_number().over(partition_by=S.metric_name, order_by=(S.time.desc(), S.id)).label("n")
    ranked = select(S.metric_name, S.time, S.value, S.labels, newest).where(
        _owner(company_id), S.time >= since
    )
    inner = ranked.subquery()
    stmt = (
        select(inner.c.metric_name, inner.c.time, inner.c.value, inner.c.labels)
        .where(inner.c.n <= POINTS_PER_METRIC)
        .order_by(inner.c.metric_name, inner.c.time)
    )
    metrics: dict[str, list[dict[str, Any]]] = {}
    for row in await session.execute(stmt):
        point = {"labels": row.labels or {}, "timestamp": row.time.isoformat(), "value": row.value}
        metrics.setdefault(row.metric_name, []).append(point)
    return metrics
