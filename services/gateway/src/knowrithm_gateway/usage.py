"""API usage events: one record per request, published in batches to JetStream.

Requests only append a row to an in-memory buffer; a background loop publishes the buffer
about once a second (sooner when a batch fills) as `ApiRequestsRecordedV1` envelopes with
`Nats-Msg-Id` = envelope id, so a retried batch is stored once. While NATS is unreachable the
buffer is kept up to a limit, beyond which the oldest rows are dropped and counted. What is
left is published on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections import deque
from typing import NamedTuple

from knowrithm_common.events import new_event
from knowrithm_common.events.gateway import ApiRequestsRecordedV1
from knowrithm_common.messaging.connection import NatsConnection, stop_task
from knowrithm_gateway.metrics import USAGE_DROPPED, USAGE_PUBLISHED

logger = logging.getLogger(__name__)

SUBJECT = ApiRequestsRecordedV1.subject()


class UsageRow(NamedTuple):
    """What a request leaves behind; becomes an `ApiRequest` record off the request path."""

    request_id: str
    time: float  # unix time the request arrived
    company_id: uuid.UUID | None
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    credential: str
    method: str
    route: str
    status: int
    latency_ms: float
    rate_limited: bool
    ip: str | None = None  # the client address as the gateway decided it


class _Batch(NamedTuple):
    event_id: str
    payload: bytes
    size: int


class UsageRecorder:
    """Buffers usage rows and publishes them in batches; never blocks a request."""

    def __init__(
        self, nats: NatsConnection, *, flush_seconds: float, batch_size: int, buffer_limit: int,
        publish_timeout: float = 5.0,
    ) -> None:
        self._nats = nats
        self._flush_seconds = flush_seconds
        self._batch_size = max(1, batch_size)
        self._limit = max(1, buffer_limit)
        self._timeout = publish_timeout
        self._rows: deque[UsageRow] = deque()
        self._pending: _Batch | None = None  # taken from the buffer, kept until published
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failing = False

    def record(self, row: UsageRow) -> None:
        """Buffer one request's row (the oldest goes when the buffer is full)."""
        if len(self._rows) >= self._limit:
            self._rows.popleft()
            USAGE_DROPPED.inc()
        self._rows.append(row)
        if len(self._rows) >= self._batch_size:
            self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-publisher")

    async def stop(self, timeout: float = 5.0) -> None:
        """Publish what is buffered (while NATS answers, within `timeout`), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await stop_task(self._task, timeout)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_seconds)
            self._wake.clear()
            await self._publish_buffered()
        await self._publish_buffered()

    async def _publish_buffered(self) -> None:
        # Rows leave the bounded buffer only while NATS is there to take them.
        while (self._pending is not None or self._rows) and self._nats.connected:
            if self._pending is None:
                self._pending = self._take_batch()
            if not await self._publish(self._pending):
                return  # retried on the next tick, with the same event id
            USAGE_PUBLISHED.inc(self._pending.size)
            self._pending = None

    def _take_batch(self) -> _Batch:
        count = min(len(self._rows), self._batch_size)
        rows = [self._rows.popleft() for _ in range(count)]
        # `ApiRequest` fields as JSON, built directly: validating and serializing a model per
        # row cost more than the rest of the request's bookkeeping together.
        requests = [
            {
                "id": row.request_id, "time": dt.datetime.fromtimestamp(row.time, dt.UTC).isoformat(),
                "company_id": _text(row.company_id), "user_id": _text(row.user_id),
                "api_key_id": _text(row.api_key_id), "credential": row.credential,
                "method": row.method, "route": row.route, "status": row.status,
                "latency_ms": row.latency_ms, "rate_limited": row.rate_limited, "ip": row.ip,
            }
            for row in rows
        ]
        envelope = new_event(ApiRequestsRecordedV1(requests=[]), source="gateway", company_id=None)
        envelope.data = {"requests": requests}
        return _Batch(envelope.id, envelope.model_dump_json().encode(), count)

    async def _publish(self, batch: _Batch) -> bool:
        try:
            await self._nats.js.publish(
                SUBJECT, batch.payload, timeout=self._timeout, headers={"Nats-Msg-Id": batch.event_id}
            )
        except Exception as exc:  # any failure keeps the batch for the next attempt
            if not self._failing:
                logger.warning("publishing API usage failed (%r); keeping the records", exc)
            self._failing = True
            return False
        self._failing = False
        return True


def _text(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None
