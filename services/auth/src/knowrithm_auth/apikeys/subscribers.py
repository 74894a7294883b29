"""What the API-keys domain reacts to: the gateway's usage events, which keep each key's
`last_used_at` and `usage_count` (off the request path)."""

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
from knowrithm_common.service import Background


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


def subscribers(app: FastAPI) -> list[Background]:
    """The usage consumer (also `app.state.usage_consumer`): one durable consumer of the gateway's
    `gateway.api_requests.recorded.v1` batches."""
    app.state.usage_consumer = EventConsumer(
        db=app.state.db,
        processed=shared.processed,
        nats=app.state.nats,
        durable=app.state.settings.usage_consumer,
        filter_subject=ApiRequestsRecordedV1.subject(),
        handlers={ApiRequestsRecordedV1.event_type: on_requests_recorded},
        only_new=True,
    )
    return [app.state.usage_consumer]
