"""GET /api/v1/events/stream: the company's domain events as server-sent events (admins).

Each event is one SSE message: `id:` the event id, `event: domain_event`, `data:` the envelope
as a webhook receiver gets it. The stream opens with an `event: ready` message once it is
listening (what happens after it is shown), sends a comment line as a heartbeat when nothing
happened for a while, an `event: dropped` message when a slow reader lost events, and ends when
the client goes away. `?types=` takes the patterns a webhook takes (exact types, `prefix.*`,
`*`; comma-separated; all subscribable events without it); an unknown one is a 400.
Each attempt to deliver such an event (or a webhook's test ping) to one of the company's
webhooks is an `event: webhook_delivery` message: `{id, webhook_id, event_id, event_type,
status, attempts, status_code, time}` (the delivery detail route has the payload and answer).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from knowrithm_analytics.eventstream.hub import EventHub
from knowrithm_analytics.webhooks.catalogue import EVERYTHING, validate_patterns
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import CompanyAdminRead

router = APIRouter(tags=["Events"])


def _message(event: str, data: Any, *, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _events(
    hub: EventHub, company_id: uuid.UUID, patterns: list[str], heartbeat: float
) -> AsyncIterator[bytes]:
    listener = hub.listen(company_id, patterns)  # here: a stream never started holds nothing
    try:
        yield _message("ready", {"types": listener.patterns})
        dropped = 0
        while True:
            try:
                event = await asyncio.wait_for(listener.queue.get(), heartbeat)
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if event is None:  # the service stops
                return
            if listener.dropped != dropped:
                dropped = listener.dropped
                yield _message("dropped", {"dropped": dropped})
            name, data = event
            yield _message(name, data, event_id=str(data["id"]) if name == "domain_event" else None)
    finally:  # the client went away (the generator is closed) or the app stops
        hub.forget(listener)


@router.get(
    "/api/v1/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the events, as they happen"},
               **errors(400)},
)
async def event_stream(
    subject: CompanyAdminRead, request: Request,
    types: str = Query("", max_length=4000, description="comma-separated event types or `prefix.*` patterns"),
) -> StreamingResponse:
    """The company's domain events as they happen (server-sent events), filtered by type (admin)."""
    patterns = validate_patterns(types.split(",")) if types.strip() else [EVERYTHING]
    hub: EventHub = request.app.state.event_hub
    heartbeat = request.app.state.settings.event_stream_heartbeat_seconds
    return StreamingResponse(
        _events(hub, subject.company, patterns, heartbeat), media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
