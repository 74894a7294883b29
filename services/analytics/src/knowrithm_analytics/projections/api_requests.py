"""Projection of the gateway's API-usage batches: one row per request, keyed by its request id."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import ApiRequestFact
from knowrithm_analytics.projections.registry import Projections
from knowrithm_analytics.projections.upserts import insert_later, insert_once, row
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.gateway import ApiRequestsRecordedV1

API_REQUESTS: Table = ApiRequestFact.__table__
_RECORDED = insert_once(API_REQUESTS)
projections = Projections()


@projections.of(ApiRequestsRecordedV1)
async def api_requests_recorded(
    session: AsyncSession, event: EventEnvelope, data: ApiRequestsRecordedV1
) -> None:
    """Record a batch of requests (written with the transaction's other facts); a known request is skipped."""
    rows = [row(API_REQUESTS, request, request_id=request.id) for request in data.requests]
    if rows:
        insert_later(session, _RECORDED, rows)
