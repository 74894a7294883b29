"""One NATS subscription per process on `events.>`, fanned out to the open streams.

Events published to JetStream reach plain NATS subscribers too, at once (no durable position:
a stream shows what happens while it is open). Each listener is one open HTTP stream: it holds
its company and type patterns and a bounded queue; an event goes only to the listeners of its
own company whose patterns select its type. Only subscribable events are passed on, as
webhooks get them (`outgoing`: no trace ids, no actor address or browser), so the stream
carries nothing a webhook receiver could not see.

Webhook deliveries are shown too: the process that made an attempt announces its outcome on
core NATS (`LIVE_DELIVERIES.<company>`: status, attempts, HTTP status; never the payload or
the receiver's answer, which the delivery detail route gives), and every hub passes it to its
company's listeners whose patterns select the delivered event's type.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from prometheus_client import Gauge
from pydantic import ValidationError

from knowrithm_analytics.webhooks.catalogue import matches, subscribable_types
from knowrithm_analytics.webhooks.delivery import LIVE_DELIVERIES, outgoing
from knowrithm_common.events import EventEnvelope
from knowrithm_common.messaging.connection import NatsConnection

logger = logging.getLogger(__name__)

SUBJECT = "events.>"
QUEUE_SIZE = 500  # events a slow reader may fall behind before the oldest are dropped
SEEN = 2048  # recent event ids remembered: a relay's resend is not shown twice

OPEN_STREAMS = Gauge("knowrithm_event_streams_open", "Live event streams open on this process")


@dataclass(eq=False)
class Listener:
    """One open stream: its company, its type patterns, what it has not read yet."""

    company_id: uuid.UUID
    patterns: list[str]
    # (SSE event name, data); None: the service stops
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    dropped: int = 0

    def offer(self, event: tuple[str, dict[str, Any]] | None) -> None:
        """Queue the message; a full queue loses its oldest one (counted in `dropped`)."""
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
                self.dropped += 1
        self.queue.put_nowait(event)


class EventHub:
    """The process's subscription to every event and the listeners it feeds (a Background)."""

    def __init__(self, nats: NatsConnection) -> None:
        self.nats = nats
        self.listeners: set[Listener] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._subscriptions: list[Subscription] = []
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._subscribe(), name="event-hub")

    async def _subscribe(self) -> None:
        await self.nats.wait_connected()
        # nats-py keeps the subscription across reconnects.
        self._subscriptions = [
            await self.nats.client.subscribe(SUBJECT, cb=self._received),
            await self.nats.client.subscribe(f"{LIVE_DELIVERIES}.*", cb=self._delivered),
        ]
        self._subscribed.set()

    async def wait_subscribed(self, timeout: float | None = None) -> bool:
        """Whether the subscription exists (within `timeout`)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        return self._subscribed.is_set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        for listener in self.listeners:  # open streams end (None), so the server can stop
            listener.offer(None)

    def listen(self, company_id: uuid.UUID, patterns: list[str]) -> Listener:
        """A new listener for the company's events of `patterns`."""
        listener = Listener(company_id, patterns)
        self.listeners.add(listener)
        OPEN_STREAMS.set(len(self.listeners))
        return listener

    def forget(self, listener: Listener) -> None:
        """The stream closed: nothing more is queued for it."""
        self.listeners.discard(listener)
        OPEN_STREAMS.set(len(self.listeners))

    async def _received(self, msg: Msg) -> None:
        if not self.listeners:
            return
        try:
            envelope = EventEnvelope.model_validate_json(msg.data)
        except ValidationError:
            logger.warning("event stream: an unreadable message on %s", msg.subject)
            return
        self.publish(envelope)

    def publish(self, envelope: EventEnvelope) -> None:
        """Pass one event to the listeners of its company that asked for its type."""
        if envelope.company_id is None or envelope.type not in subscribable_types():
            return
        if envelope.id in self._seen:
            return
        self._seen[envelope.id] = None
        if len(self._seen) > SEEN:
            self._seen.popitem(last=False)
        event = outgoing(envelope)
        for listener in self.listeners:
            if listener.company_id == envelope.company_id and matches(listener.patterns, envelope.type):
                listener.offer(("domain_event", event))

    async def announce(self, delivery: dict[str, Any]) -> None:
        """Tell every process's hub of a webhook delivery's attempt (best effort: it is also stored)."""
        try:
            await self.nats.client.publish(
                f"{LIVE_DELIVERIES}.{delivery['company_id']}", json.dumps(delivery).encode()
            )
        except Exception as exc:
            logger.warning("event stream: a delivery could not be announced: %r", exc)

    async def _delivered(self, msg: Msg) -> None:
        if not self.listeners:
            return
        try:
            delivery = json.loads(msg.data)
            company_id = uuid.UUID(delivery["company_id"])
            event_type = str(delivery["event_type"])
        except (ValueError, KeyError, TypeError):
            logger.warning("event stream: an unreadable delivery notice on %s", msg.subject)
            return
        for listener in self.listeners:
            if listener.company_id == company_id and matches(listener.patterns, event_type):
                listener.offer(("webhook_delivery", delivery))
