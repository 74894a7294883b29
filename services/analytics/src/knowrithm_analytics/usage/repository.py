"""Queries over the API-request and API-key projections, for requests made with API keys.

Every query takes the company (None: every company, for super admins) and the time window;
only requests authenticated by an API key (`credential = "api_key"`) are counted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import ApiKeyFact, ApiRequestFact
from knowrithm_analytics.windows import Window

Granularity = Literal["daily", "hourly"]
R = ApiRequestFact


@dataclass(frozen=True, slots=True)
class Stats:
    """Requests, the share that succeeded (status < 400) and their mean latency."""

    total: int
    ok: int
    avg_latency_ms: float | None

    @property
    def success_rate(self) -> float | None:
        """Percent of requests that succeeded; None when there were none (not "all failed")."""
        return round(100 * self.ok / self.total, 2) if self.total else None

    @property
    def avg_response_time(self) -> float | None:
        return None if self.avg_latency_ms is None else round(self.avg_latency_ms, 2)

    @classmethod
    def of(cls, row: Any) -> Stats:
        return cls(int(row.total or 0), int(row.ok or 0), row.avg_latency)


def _stats() -> tuple[ColumnElement[Any], ...]:
    return (
        func.count().label("total"),
        func.count().filter(R.status < 400).label("ok"),
        func.avg(R.latency_ms).label("avg_latency"),
    )


def key_requests(company_id: uuid.UUID | None, window: Window) -> list[ColumnElement[bool]]:
    """Conditions: requests made with an API key, of the company, inside the window."""
    conditions = [R.credential == "api_key", R.time >= window.start, R.time < window.end]
    if company_id is not None:
        conditions.append(R.company_id == company_id)
    return conditions


def failed_requests(company_id: uuid.UUID | None, window: Window) -> list[ColumnElement[bool]]:
    """Conditions: the company's API-key requests in the window answered with a status of 400 or more."""
    return [*key_requests(company_id, window), R.status >= 400]


def requests_of_key(key_id: uuid.UUID, window: Window) -> list[ColumnElement[bool]]:
    """Conditions: the requests made with one key in the window."""
    return [*key_requests(None, window), R.api_key_id == key_id]


def key_status(key: ApiKeyFact, now: dt.datetime) -> str:
    """revoked, expired (past its expiry, as auth refuses it) or active."""
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def _keys_of(company_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
    return [] if company_id is None else [ApiKeyFact.company_id == company_id]


async def usage_totals(session: AsyncSession, company_id: uuid.UUID | None, window: Window) -> Stats:
    """Totals of the window."""
    row = (await session.execute(select(*_stats()).where(*key_requests(company_id, window)))).one()
    return Stats.of(row)


async def key_counts(session: AsyncSession, company_id: uuid.UUID | None, now: dt.datetime) -> dict[str, int]:
    """The company's keys by status (every key ever created, whatever the window)."""
    status = case(
        (ApiKeyFact.revoked_at.is_not(None), "revoked"),
        (ApiKeyFact.expires_at <= now, "expired"),
        else_="active",
    )
    stmt = (
        select(status.label("status"), func.count().label("n")).where(*_keys_of(company_id)).group_by(status)
    )
    return {row.status: row.n for row in await session.execute(stmt)}


async def get_key(
    session: AsyncSession, company_id: uuid.UUID | None, key_id: uuid.UUID
) -> ApiKeyFact | None:
    """One key of the company (any company's for None)."""
    stmt = select(ApiKeyFact).where(ApiKeyFact.api_key_id == key_id, *_keys_of(company_id))
    return (await session.execute(stmt)).scalar_one_or_none()


async def trends(
    session: AsyncSession, company_id: uuid.UUID | None, window: Window, granularity: Granularity
) -> list[tuple[dt.datetime, Stats]]:
    """One point per UTC day or hour that had requests (periods without requests are left out)."""
    period = func.date_trunc("day" if granularity == "daily" else "hour", func.timezone("UTC", R.time))
    stmt = (
        select(period.label("period"), *_stats())
        .where(*key_requests(company_id, window))
        .group_by(period)
        .order_by(period)
    )
    return [(row.period.replace(tzinfo=dt.UTC), Stats.of(row)) for row in await session.execute(stmt)]


async def endpoints(
    session: AsyncSession, conditions: Sequence[ColumnElement[bool]], *, limit: int | None = None
) -> list[tuple[str, str, Stats]]:
    """(method, route template, stats) of the requests matching `conditions`, busiest first."""
    stmt = (
        select(R.method, R.route, *_stats())
        .where(*conditions)
        .group_by(R.method, R.route)
        .order_by(func.count().desc(), R.route, R.method)
        .limit(limit)
    )
    return [(row.method, row.route, Stats.of(row)) for row in await session.execute(stmt)]


async def key_performance(
    session: AsyncSession, company_id: uuid.UUID | None, window: Window, *, limit: int
) -> list[tuple[ApiKeyFact, Stats, dt.datetime | None]]:
    """Each key with its stats in the window and its last use ever; busiest first, idle keys too."""
    used = (
        select(R.api_key_id, *_stats())
        .where(*key_requests(company_id, window))
        .group_by(R.api_key_id)
        .subquery()
    )
    last = select(func.max(R.time)).where(R.api_key_id == ApiKeyFact.api_key_id).scalar_subquery()
    stmt = (
        select(ApiKeyFact, used.c.total, used.c.ok, used.c.avg_latency, last.label("last_used_at"))
        .outerjoin(used, used.c.api_key_id == ApiKeyFact.api_key_id)
        .where(*_keys_of(company_id))
        .order_by(func.coalesce(used.c.total, 0).desc(), ApiKeyFact.name, ApiKeyFact.api_key_id)
        .limit(limit)
    )
    return [(row.ApiKeyFact, Stats.of(row), row.last_used_at) for row in await session.execute(stmt)]


async def status_breakdown(
    session: AsyncSession, company_id: uuid.UUID | None, window: Window
) -> list[tuple[int, int]]:
    """(status code, requests) of the failed requests (status >= 400), most frequent first."""
    stmt = (
        select(R.status, func.count().label("n"))
        .where(*key_requests(company_id, window), R.status >= 400)
        .group_by(R.status)
        .order_by(func.count().desc(), R.status)
    )
    return [(row.status, row.n) for row in await session.execute(stmt)]


async def rate_usage(
    session: AsyncSession, company_id: uuid.UUID | None, window: Window, now: dt.datetime
) -> Sequence[Row[Any]]:
    """Active keys with their admitted requests of the last hour and 24 h, and their 429s in the window.

    Requests refused by the rate limiter do not count as usage: the limiter does not count them either.
    """
    admitted = R.rate_limited.is_(False)
    since = min(window.start, now - dt.timedelta(days=1))
    per_key = (
        select(
            R.api_key_id,
            func.count().filter(admitted, R.time >= now - dt.timedelta(hours=1)).label("hourly"),
            func.count().filter(admitted, R.time >= now - dt.timedelta(days=1)).label("daily"),
            func.count().filter(R.status == 429, R.time >= window.start).label("throttled"),
        )
        .where(*key_requests(company_id, Window(since, now)))
        .group_by(R.api_key_id)
        .subquery()
    )
    stmt = (
        select(ApiKeyFact, per_key.c.hourly, per_key.c.daily, per_key.c.throttled)
        .join(per_key, per_key.c.api_key_id == ApiKeyFact.api_key_id)
        .where(
            *_keys_of(company_id),
            ApiKeyFact.revoked_at.is_(None),
            (ApiKeyFact.expires_at.is_(None)) | (ApiKeyFact.expires_at > now),
        )
    )
    return (await session.execute(stmt)).all()


async def key_daily(session: AsyncSession, key_id: uuid.UUID, window: Window) -> list[tuple[dt.date, Stats]]:
    """One point per UTC day the key made requests."""
    day = func.date_trunc("day", func.timezone("UTC", R.time))
    stmt = (
        select(day.label("day"), *_stats())
        .where(*requests_of_key(key_id, window))
        .group_by(day)
        .order_by(day)
    )
    return [(row.day.date(), Stats.of(row)) for row in await session.execute(stmt)]
