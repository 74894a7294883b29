"""One delivery path for the durable JetStream pull consumers: event consumers and job workers.

`PullSubscriber` subscribes (again, after NATS went away), fetches, routes each message to the
handler of its type and settles a failure the same way for both kinds: retried with backoff
(`nak(delay)`) until `max_deliver` deliveries, then parked on `deadletter.<durable>` with the
error and acknowledged, so one poison message never blocks the rest. A malformed message is
dead-lettered at once, and so is one of a type without a handler (or it is acknowledged, where
other types are expected on the subject). Subclasses say how a message is applied:
`EventConsumer` in a database transaction with its processed-event record, `JobWorker` in
concurrent slots with heartbeats.

`stop()` interrupts a pending fetch (or a wait for a free slot) at once instead of waiting out
`fetch_timeout`; a delivery in hand is finished first. A message that was fetched but not
handled stays unacknowledged, and JetStream delivers it again after `ack_wait`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from knowrithm_common.events.envelope import EventEnvelope
from knowrithm_common.messaging.connection import NatsConnection, stop_task
from knowrithm_common.messaging.streams import DEADLETTER_PREFIX

logger = logging.getLogger(__name__)

H = TypeVar("H")
T = TypeVar("T")

RETRIED, DEADLETTERED = "retried", "deadlettered"


class _Stopped(Exception):
    """stop() was called while the loop waited."""


class PullSubscriber(ABC, Generic[H]):
    """A durable pull consumer dispatching envelopes to handlers (`H`) by event type."""

    kind: ClassVar[str] = "message"  # names a delivery in logs and dead-letter reasons
    fetch_timeout: float = 1.0  # seconds one fetch waits for messages; stop() interrupts it

    def __init__(
        self,
        *,
        nats: NatsConnection,
        durable: str,
        filter_subject: str,
        stream: str,
        handlers: Mapping[str, H],
        max_deliver: int,
        backoff: Sequence[float],
        ack_wait: float,
        deliver_policy: DeliverPolicy,
        max_ack_pending: int,
        deadletter_unknown: bool,
    ) -> None:
        self.nats, self.durable, self.filter_subject, self.stream = nats, durable, filter_subject, stream
        self.handlers = dict(handlers)
        self.max_deliver, self.backoff, self.ack_wait = max_deliver, tuple(backoff), ack_wait
        self.deliver_policy, self.max_ack_pending = deliver_policy, max_ack_pending
        self.deadletter_unknown = deadletter_unknown
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None
        self._subscribed = asyncio.Event()
        self._stopping = False
        self._stop_requested: asyncio.Future[None] | None = None

    async def wait_subscribed(self, timeout: float = 10) -> None:
        """Wait until the durable consumer exists on the server."""
        await asyncio.wait_for(self._subscribed.wait(), timeout)

    async def start(self) -> None:
        self._stop_requested = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"{self.kind}s-{self.durable}")

    async def stop(self) -> None:
        """Interrupt a pending fetch, finish the delivery in hand, then unsubscribe."""
        self._stopping = True
        if self._stop_requested is not None and not self._stop_requested.done():
            self._stop_requested.set_result(None)
        if self._task is not None:
            await stop_task(self._task)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    def _config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=self.deliver_policy,
            ack_wait=self.ack_wait,
            # The server's limit sits above ours so the last attempt still reaches us and is
            # dead-lettered rather than silently dropped.
            max_deliver=self.max_deliver + 1,
            filter_subject=self.filter_subject,
            max_ack_pending=self.max_ack_pending,
        )

    async def _run(self) -> None:
        with contextlib.suppress(_Stopped):
            while not self._stopping:
                try:
                    await self._subscribe_and_fetch()
                except (asyncio.CancelledError, _Stopped):
                    raise
                except Exception as exc:
                    logger.warning("%s consumer %s interrupted (%s); resubscribing", self.kind, self.durable,
                                   exc)
                    await self._until_stopped(asyncio.sleep(1))

    async def _subscribe_and_fetch(self) -> None:
        await self._until_stopped(self.nats.wait_connected())
        self._sub = await self.nats.js.pull_subscribe(
            self.filter_subject, durable=self.durable, stream=self.stream, config=self._config()
        )
        self._subscribed.set()
        await self._fetch_loop(self._sub)

    @abstractmethod
    async def _fetch_loop(self, sub: Any) -> None:
        """Fetch and handle messages until stopped."""

    async def _fetch(self, sub: Any, batch: int) -> list[Msg]:
        """Up to `batch` messages; none when `fetch_timeout` passes without any."""
        try:
            messages: list[Msg] = await self._until_stopped(sub.fetch(batch, timeout=self.fetch_timeout))
        except TimeoutError:
            return []
        return messages

    async def _until_stopped(self, waiting: Awaitable[T]) -> T:
        """The outcome of `waiting`, unless stop() comes first: then it is cancelled and `_Stopped` raised.

        When both happen together the outcome wins; the caller looks at `_stopping` next.
        """
        work = asyncio.ensure_future(waiting)
        watched: set[asyncio.Future[Any]] = {work}
        if self._stop_requested is not None:
            watched.add(self._stop_requested)
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not work.done():
                work.cancel()
                await asyncio.wait((work,))
        if work.cancelled():
            raise _Stopped
        return work.result()

    async def _route(self, msg: Msg) -> tuple[EventEnvelope, H] | None:
        """The envelope and its handler; a malformed or unknown message is settled here (None)."""
        try:
            envelope = EventEnvelope.model_validate_json(msg.data)
        except ValidationError as exc:
            await self._deadletter(msg, f"malformed {self.kind}: {exc.errors()[:3]}")
            return None
        handler = self.handlers.get(envelope.type)
        if handler is None:
            if self.deadletter_unknown:
                await self._deadletter(msg, f"no handler for {envelope.type}")
            else:
                await msg.ack()
            return None
        return envelope, handler

    async def _retry_or_deadletter(self, msg: Msg, envelope: EventEnvelope, exc: Exception) -> None:
        """A failed delivery: again after the backoff, or dead-lettered on the last attempt."""
        attempt = attempt_of(msg)
        what = f"{self.kind} {envelope.type} {envelope.id}"
        if attempt >= self.max_deliver:
            logger.error("%s failed %d times; dead-lettered: %s", what, attempt, exc)
            await self._deadletter(msg, repr(exc), envelope)
            return
        delay = self.backoff[min(attempt - 1, len(self.backoff) - 1)]
        logger.warning("%s failed (attempt %d), retry in %ss: %s", what, attempt, delay, exc)
        self._count(RETRIED, envelope)
        await msg.nak(delay=delay)

    async def _deadletter(self, msg: Msg, error: str, failed: EventEnvelope | None = None) -> None:
        """Park `msg` (`failed`: the envelope whose handler gave up; None for an unreadable message)."""
        await deadletter(self.nats, msg, consumer=self.durable, error=error)
        self._count(DEADLETTERED, failed)

    @abstractmethod
    def _count(self, outcome: str, envelope: EventEnvelope | None) -> None:
        """Count an outcome in this kind's metric."""


def attempt_of(msg: Msg) -> int:
    """Which delivery of its message `msg` is: 1 for the first."""
    return msg.metadata.num_delivered or 1


async def deadletter(nats: NatsConnection, msg: Msg, *, consumer: str, error: str) -> None:
    """Park a message on `deadletter.<consumer>` with why it stopped, then ack the original."""
    headers = {
        "Knowrithm-Error": error[:1000],
        "Knowrithm-Original-Subject": msg.subject,
        "Knowrithm-Consumer": consumer,
        "Knowrithm-Deliveries": str(msg.metadata.num_delivered or 0),
    }
    await nats.js.publish(DEADLETTER_PREFIX + consumer, msg.data, headers=headers)
    await msg.ack()
