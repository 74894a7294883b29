"""API-key analytics from the gateway's usage events: requests made with a company's API keys.

Admins (and their API keys with the `read` scope) see their company; super admins every
company, or one with `?company_id=`. A request succeeded when its status is below 400.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from knowrithm_analytics.models import ApiKeyFact
from knowrithm_analytics.usage import repository as repo
from knowrithm_analytics.usage.repository import Granularity, Stats, key_requests, key_status
from knowrithm_analytics.usage.schemas import (
    DailyUsage,
    DetailedUsage,
    EndpointUsage,
    ErrorAnalysis,
    ErrorEndpoint,
    KeyCounts,
    KeyPerformance,
    KeyPerformanceList,
    KeySummary,
    Overview,
    RateLimitAnalysis,
    RateUsage,
    StatusCount,
    TopEndpoints,
    TrendPoint,
    Trends,
    UsageSummary,
    Wrapped,
)
from knowrithm_analytics.windows import DaysWindow, Window, last_days
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.errors import NotFound
from knowrithm_common.tenancy import COMPANY_NOT_FOUND, CompanyAdminRead

router = APIRouter(tags=["API Key Analytics"], responses=COMPANY_NOT_FOUND)
HIGH_USAGE_PCT = 80.0


class ApiKeyNotFound(NotFound):
    code, message = "api_key_not_found", "API key not found or access denied"


def rate_window(days: int = Query(7, ge=1, le=30, description="days to look back for 429s")) -> Window:
    """Dependency: the last `days` days (1-30, default 7) of the rate-limit analysis."""
    return last_days(dt.datetime.now(dt.UTC), days)


def _endpoint(method: str, route: str, stats: Stats) -> EndpointUsage:
    return EndpointUsage(
        endpoint=route,
        method=method,
        total_requests=stats.total,
        success_rate=stats.success_rate,
        avg_response_time=stats.avg_response_time,
    )


@router.get("/api/v1/overview")
async def overview(subject: CompanyAdminRead, session: Session, window: DaysWindow) -> Wrapped[Overview]:
    """API keys by status, and the requests made with them in the last `days` days."""
    counts = await repo.key_counts(session, subject.company_id, window.end)
    totals = await repo.usage_totals(session, subject.company_id, window)
    keys = KeyCounts(
        total=sum(counts.values()), **{s: counts.get(s, 0) for s in ("active", "expired", "revoked")}
    )
    usage = UsageSummary(
        total_requests=totals.total,
        success_rate=totals.success_rate,
        avg_response_time_ms=totals.avg_response_time,
    )
    return Wrapped(data=Overview(api_keys=keys, period_days=window.days, usage=usage))


@router.get("/api/v1/usage-trends")
async def usage_trends(
    subject: CompanyAdminRead, session: Session, window: DaysWindow, granularity: Granularity = "daily"
) -> Wrapped[Trends]:
    """Requests per UTC day or hour; periods without requests are left out, not padded with zeros."""
    points = await repo.trends(session, subject.company_id, window, granularity)
    trends = [
        TrendPoint(
            period=start.date().isoformat() if granularity == "daily" else start.isoformat(),
            total_requests=stats.total,
            success_rate=stats.success_rate,
            avg_response_time=stats.avg_response_time,
        )
        for start, stats in points
    ]
    return Wrapped(data=Trends(granularity=granularity, period_days=window.days, trends=trends))


@router.get("/api/v1/top-endpoints")
async def top_endpoints(
    subject: CompanyAdminRead, session: Session, window: DaysWindow, limit: int = Query(10, ge=1, le=100)
) -> Wrapped[TopEndpoints]:
    """The endpoints called most with the company's API keys."""
    rows = await repo.endpoints(session, key_requests(subject.company_id, window), limit=limit)
    endpoints = [_endpoint(method, route, stats) for method, route, stats in rows]
    return Wrapped(data=TopEndpoints(endpoints=endpoints, period_days=window.days))


@router.get("/api/v1/api-key-performance")
async def api_key_performance(
    subject: CompanyAdminRead, session: Session, window: DaysWindow, limit: int = Query(20, ge=1, le=100)
) -> Wrapped[KeyPerformanceList]:
    """Each API key's requests, success rate and response time; busiest first, idle keys included."""
    rows = await repo.key_performance(session, subject.company_id, window, limit=limit)
    keys = [
        KeyPerformance(
            api_key_id=key.api_key_id,
            name=key.name,
            key_prefix=key.key_prefix,
            status=key_status(key, window.end),
            created_at=key.created_at,
            last_used_at=last_used,
            total_requests=stats.total,
            success_rate=stats.success_rate,
            avg_response_time=stats.avg_response_time,
        )
        for key, stats, last_used in rows
    ]
    return Wrapped(data=KeyPerformanceList(api_keys=keys, period_days=window.days))


@router.get("/api/v1/error-analysis")
async def error_analysis(
    subject: CompanyAdminRead, session: Session, window: DaysWindow
) -> Wrapped[ErrorAnalysis]:
    """Failed requests (status 400 or more) by status code and by endpoint."""
    statuses = await repo.status_breakdown(session, subject.company_id, window)
    worst = await repo.endpoints(session, repo.failed_requests(subject.company_id, window), limit=10)
    data = ErrorAnalysis(
        period_days=window.days,
        total_errors=sum(count for _, count in statuses),
        status_code_breakdown=[StatusCount(status_code=code, count=count) for code, count in statuses],
        top_error_endpoints=[
            ErrorEndpoint(endpoint=route, method=method, error_count=stats.total)
            for method, route, stats in worst
        ],
    )
    return Wrapped(data=data)


def _pct(used: int, limit: int | None) -> float | None:
    return round(100 * used / limit, 2) if limit else None


@router.get("/api/v1/rate-limit-analysis")
async def rate_limit_analysis(
    subject: CompanyAdminRead, session: Session, window: Annotated[Window, Depends(rate_window)]
) -> Wrapped[RateLimitAnalysis]:
    """Active keys near their limits: >= 80% of the hourly or daily limit (rolling last hour and
    last 24 h), or any 429 in the last `days` days; highest usage first."""
    rows = await repo.rate_usage(session, subject.company_id, window, window.end)
    high = [
        usage
        for usage in map(_rate_usage, rows)
        if usage.rate_limited_requests or _peak(usage) >= HIGH_USAGE_PCT
    ]
    high.sort(key=lambda u: (-_peak(u), -u.rate_limited_requests, u.name))
    data = RateLimitAnalysis(high_usage_api_keys=high, period_days=window.days, threshold_pct=HIGH_USAGE_PCT)
    return Wrapped(data=data)


def _rate_usage(row: Any) -> RateUsage:
    key: ApiKeyFact = row.ApiKeyFact
    return RateUsage(
        api_key_id=key.api_key_id,
        name=key.name,
        key_prefix=key.key_prefix,
        hourly_limit=key.rate_limit_per_hour,
        hourly_requests=row.hourly,
        hourly_usage_pct=_pct(row.hourly, key.rate_limit_per_hour),
        daily_limit=key.rate_limit_per_day,
        daily_requests=row.daily,
        daily_usage_pct=_pct(row.daily, key.rate_limit_per_day),
        rate_limited_requests=row.throttled,
    )


def _peak(usage: RateUsage) -> float:
    return max(usage.hourly_usage_pct or 0.0, usage.daily_usage_pct or 0.0)


@router.get("/api/v1/detailed-usage/{api_key_id}")
async def detailed_usage(
    subject: CompanyAdminRead, api_key_id: str, session: Session, window: DaysWindow
) -> Wrapped[DetailedUsage]:
    """One API key's requests by UTC day and by endpoint; 404 for a key of another company."""
    try:
        key_id = uuid.UUID(api_key_id)
    except ValueError:
        raise ApiKeyNotFound() from None
    key = await repo.get_key(session, subject.company_id, key_id)
    if key is None:
        raise ApiKeyNotFound()
    days = await repo.key_daily(session, key_id, window)
    routes = await repo.endpoints(session, repo.requests_of_key(key_id, window))
    data = DetailedUsage(
        api_key=KeySummary(
            id=key.api_key_id,
            key_prefix=key.key_prefix,
            name=key.name,
            scopes=key.scopes,
            status=key_status(key, window.end),
        ),
        daily_breakdown=[
            DailyUsage(date=day, total_requests=stats.total, success_rate=stats.success_rate)
            for day, stats in days
        ],
        endpoint_breakdown=[_endpoint(method, route, stats) for method, route, stats in routes],
        period_days=window.days,
        total_logs=sum(stats.total for _, stats in days),
    )
    return Wrapped(data=data)
