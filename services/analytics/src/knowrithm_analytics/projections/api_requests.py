"""Projection of the gateway's API-usage batches: one row per request, keyed by its request id."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import ApiRequestFact
from knowrithm_analytics.projections.upserts import insert_later, insert_once
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.gateway import ApiRequestsRecordedV1

API_REQUESTS: Table = ApiRequestFact.__table__
_RECORDED = insert_once(API_REQUESTS)


async def api_requests_recorded(session: AsyncSession, event: EventEnvelope) -> None:
    """Record a batch of requests (written with the transaction's other facts); a known request is skipped."""
    data = ApiRequestsRecordedV1.model_validate(event.data)
    rows = [
        {
            "request_id": r.id[:64],
            "time": r.time,
            "company_id": r.company_id,
            "user_id": r.user_id,
            "api_key_id": r.api_key_id,
            "credential": r.credential[:20],
            "method": r.method[:10],
            "route": r.route[:300],
            "status": r.status,
            "latency_ms": r.latency_ms,
            "rate_limited": r.rate_limited,
            "ip": r.ip and r.ip[:64],
        }
        for r in data.requests
    ]
    if rows:
        insert_later(session, _RECORDED, rows)
