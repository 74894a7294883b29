"""Live answer events between replicas: NATS subjects per conversation, fanned out locally.

The replica generating an answer publishes its events (`queued`, `token`, `completed`,
`failed`) on `conversations.stream.<conversation id>`; every replica holds ONE wildcard
subscription and hands each event to the SSE streams of that conversation it serves. So a
widget connected to replica A sees an answer generated on replica B, and a process holding
a thousand open streams holds one NATS subscription, not a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from nats.aio.msg import Msg
from prometheus_client import Gauge

from knowrithm_common.messaging.connection import NatsConnection

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "conversations.stream."
OPEN_STREAMS = Gauge("knowrithm_conversations_open_streams", "SSE streams open in this process")
QUEUE_SIZE = 2048  # events a slow client may fall behind by before it is cut off


class StreamHub:
    """The process's fan-out from the wildcard subscription to local listeners."""

    def __init__(self, nats: NatsConnection) -> None:
        self.nats = nats
        self._listeners: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = {}
        self._sub: Any = None

    async def start(self) -> None:
        await self.nats.wait_connected()
        self._sub = await self.nats.client.subscribe(SUBJECT_PREFIX + "*", cb=self._deliver)

    async def stop(self) -> None:
        for queues in self._listeners.values():
            for queue in queues:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)  # ends each open stream
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def publish(self, conversation_id: uuid.UUID, event: str, data: dict[str, Any]) -> None:
        """Send an event to every stream of the conversation, on any replica."""
        payload = json.dumps({"event": event, "data": data}, default=str).encode()
        await self.nats.client.publish(f"{SUBJECT_PREFIX}{conversation_id}", payload)

    async def _deliver(self, msg: Msg) -> None:
        queues = self._listeners.get(msg.subject[len(SUBJECT_PREFIX) :])
        if not queues:
            return
        event = json.loads(msg.data)
        for queue in list(queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                logger.warning("a stream fell %d events behind; closing it", QUEUE_SIZE)
                queues.discard(queue)

    def listen(self, conversation_id: uuid.UUID) -> Listener:
        """Start receiving the conversation's events (close the listener when done; `with` does)."""
        key = str(conversation_id)
        listener = Listener(self, key)
        self._listeners.setdefault(key, set()).add(listener.queue)
        OPEN_STREAMS.inc()
        return listener

    def listening(self, conversation_id: uuid.UUID) -> int:
        """How many streams of this process follow the conversation."""
        return len(self._listeners.get(str(conversation_id), ()))

    def _forget(self, key: str, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        OPEN_STREAMS.dec()
        listeners = self._listeners.get(key)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                del self._listeners[key]


class Listener:
    """One subscriber's queue of a conversation's events."""

    def __init__(self, hub: StreamHub, key: str) -> None:
        self.hub, self.key = hub, key
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_SIZE)
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.hub._forget(self.key, self.queue)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One Server-Sent Event."""
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()
