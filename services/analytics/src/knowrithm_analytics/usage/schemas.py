"""Responses of the API-key analytics (the Knowrithm API's field names, wrapped in `success`/`data`).

Rates are percentages (0-100, two decimals) of requests with a status below 400; response
times are mean `latency_ms` at the gateway. A key or period without requests shows 0.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")
KeyStatus = Literal["active", "inactive", "revoked", "expired"]


class Wrapped(BaseModel, Generic[T]):
    success: bool = True
    data: T


class KeyCounts(BaseModel):
    total: int
    active: int
    expired: int
    revoked: int


class UsageSummary(BaseModel):
    total_requests: int
    success_rate: float | None
    avg_response_time_ms: float | None


class Overview(BaseModel):
    api_keys: KeyCounts
    period_days: int
    usage: UsageSummary


class TrendPoint(BaseModel):
    period: str = Field(description="the UTC day (YYYY-MM-DD) or hour (ISO 8601) of the point")
    total_requests: int
    success_rate: float | None
    avg_response_time: float | None


class Trends(BaseModel):
    granularity: Literal["daily", "hourly"]
    period_days: int
    trends: list[TrendPoint] = Field(description="periods with requests only, oldest first")


class EndpointUsage(BaseModel):
    endpoint: str = Field(description="the route template, e.g. /api/v1/agent/{agent_id}")
    method: str
    total_requests: int
    success_rate: float | None
    avg_response_time: float | None


class TopEndpoints(BaseModel):
    endpoints: list[EndpointUsage]
    period_days: int


class KeyPerformance(BaseModel):
    api_key_id: uuid.UUID
    name: str
    key_prefix: str | None
    status: KeyStatus
    created_at: dt.datetime
    last_used_at: dt.datetime | None = Field(
        description="the key's last request ever, not only in the window"
    )
    total_requests: int
    success_rate: float | None
    avg_response_time: float | None


class KeyPerformanceList(BaseModel):
    api_keys: list[KeyPerformance] = Field(description="busiest first; keys without requests too")
    period_days: int


class StatusCount(BaseModel):
    status_code: int
    count: int


class ErrorEndpoint(BaseModel):
    endpoint: str
    method: str
    error_count: int


class ErrorAnalysis(BaseModel):
    period_days: int
    total_errors: int = Field(description="requests answered with a status of 400 or more")
    status_code_breakdown: list[StatusCount]
    top_error_endpoints: list[ErrorEndpoint] = Field(description="the 10 endpoints with most errors")


class RateUsage(BaseModel):
    api_key_id: uuid.UUID
    name: str
    key_prefix: str | None
    hourly_limit: int | None
    hourly_requests: int = Field(description="requests admitted in the last 60 minutes")
    hourly_usage_pct: float | None = Field(description="null for a key without this limit")
    daily_limit: int | None
    daily_requests: int = Field(description="requests admitted in the last 24 hours")
    daily_usage_pct: float | None
    rate_limited_requests: int = Field(description="requests answered 429 in the window")


class RateLimitAnalysis(BaseModel):
    high_usage_api_keys: list[RateUsage] = Field(
        description="active keys at >= threshold_pct of either limit, or answered 429 in the window"
    )
    period_days: int
    threshold_pct: float


class KeySummary(BaseModel):
    id: uuid.UUID
    key_prefix: str | None
    name: str
    scopes: list[str]
    status: KeyStatus


class DailyUsage(BaseModel):
    date: dt.date
    total_requests: int
    success_rate: float | None


class DetailedUsage(BaseModel):
    api_key: KeySummary
    daily_breakdown: list[DailyUsage] = Field(description="UTC days with requests only, oldest first")
    endpoint_breakdown: list[EndpointUsage]
    period_days: int
    total_logs: int = Field(description="requests made with the key in the window")
