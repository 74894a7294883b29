"""Keeps API keys' `last_used_at` and `usage_count` from the gateway's usage events, off the request path."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.apikeys.service import record_usage
from knowrithm_auth.models import shared
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.gateway import ApiRequestsRecordedV1
from knowrithm_common.messaging.consumer import EventConsumer


async def on_requests_recorded(session: AsyncSession, envelope: EventEnvelope) -> None:
    """Fold one batch of requests into per-key counts (the consumer makes it apply once)."""
    batch = ApiRequestsRecordedV1.model_validate(envelope.data)
    usage: dict[uuid.UUID, tuple[int, dt.datetime]] = {}
    for request in batch.requests:
        if request.api_key_id is None:
            continue
        count, last = usage.get(request.api_key_id, (0, request.time))
        usage[request.api_key_id] = (count + 1, max(last, request.time))
    await record_usage(session, usage)


def usage_consumer(app: FastAPI) -> EventConsumer:
    return EventConsumer(
        db=app.state.db,
        processed=shared.processed,
        nats=app.state.nats,
        durable=app.state.settings.usage_consumer,
        filter_subject=ApiRequestsRecordedV1.subject(),
        handlers={ApiRequestsRecordedV1.event_type: on_requests_recorded},
        only_new=True,
    )
