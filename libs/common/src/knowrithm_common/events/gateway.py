"""Events published by the gateway."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

from pydantic import BaseModel, Field

from knowrithm_common.events.envelope import EventData


class ApiRequest(BaseModel):
    """One request that passed through the gateway."""

    id: str = Field(description="the request id (X-Request-ID), unique per request")
    time: dt.datetime
    company_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    credential: str = Field(description="user | api_key | lead | anonymous")
    method: str
    route: str = Field(description="the route template, e.g. /api/v1/agent/{agent_id}")
    status: int
    latency_ms: float
    rate_limited: bool = False
    ip: str | None = Field(None, description="the client address as the gateway decided it (added later)")


class ApiRequestsRecordedV1(EventData):
    """A batch of API requests, one record per request; published about once a second."""

    event_type: ClassVar[str] = "gateway.api_requests.recorded.v1"

    requests: list[ApiRequest]
