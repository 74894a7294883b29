"""Durable, idempotent JetStream consumers with bounded redelivery and a dead-letter subject.

Each delivery runs its handler inside one database transaction that also records
(consumer, event id) in `processed_events`; a redelivered or replayed event finds its record
and changes nothing. A failing handler is retried with backoff (`nak(delay)`) up to
`max_deliver` times, then the message goes to `deadletter.<consumer>` with the error and is
acknowledged, so one poison message never blocks the rest.

Opt-in (`transaction_per_batch=True`): each fetched batch is applied in one transaction (its
processed-event records included) and acknowledged after the commit. A transaction per event
costs a BEGIN, a COMMIT and a session each; for a projection that writes a row or two per
event that is most of the time (measured in bench/analytics_projection.py). If the batch's
transaction fails, its messages are applied again one by one, the default way, so a poison
message is retried and dead-lettered alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import Column, DateTime, MetaData, PrimaryKeyConstraint, String, Table, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.session import Database
from knowrithm_common.events.envelope import EventEnvelope
from knowrithm_common.messaging.connection import NatsConnection, stop_task
from knowrithm_common.messaging.streams import DEADLETTER_PREFIX, EVENTS_STREAM
from knowrithm_common.telemetry import extract_context, tracer

logger = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, EventEnvelope], Awaitable[None]]

CONSUMED = Counter("knowrithm_events_consumed_total", "Events handled by consumers", ["consumer", "outcome"])


def processed_events_table(metadata: MetaData) -> Table:
    """The record of events each consumer has applied, in the schema of `metadata`."""
    return Table(
        "processed_events",
        metadata,
        Column("consumer", String(100), nullable=False),
        Column("event_id", String(36), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )


class EventConsumer:
    """A durable pull consumer dispatching envelopes to handlers by event type."""

    def __init__(
        self,
        *,
        db: Database,
        processed: Table,
        nats: NatsConnection,
        durable: str,
        filter_subject: str,
        handlers: Mapping[str, Handler],
        stream: str = EVENTS_STREAM,
        max_deliver: int = 5,
        backoff: Sequence[float] = (0.5, 2, 10, 30),
        ack_wait: float = 30,
        batch: int = 64,
        deadletter_unknown: bool = False,
        only_new: bool = False,
        transaction_per_batch: bool = False,
    ) -> None:
        self.db, self.processed, self.nats = db, processed, nats
        self.durable, self.filter_subject, self.stream = durable, filter_subject, stream
        self.handlers = dict(handlers)
        self.max_deliver, self.backoff, self.ack_wait = max_deliver, tuple(backoff), ack_wait
        self.batch, self.deadletter_unknown = batch, deadletter_unknown
        self.transaction_per_batch = transaction_per_batch
        # Projections start from the first event (ALL); a consumer that only reacts starts now.
        self.deliver_policy = DeliverPolicy.NEW if only_new else DeliverPolicy.ALL
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None
        self._subscribed = asyncio.Event()
        self._stopping = False

    async def wait_subscribed(self, timeout: float = 10) -> None:
        """Wait until the durable consumer exists on the server."""
        await asyncio.wait_for(self._subscribed.wait(), timeout)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.durable}")

    async def stop(self) -> None:
        """Finish the delivery in hand, then stop fetching and unsubscribe."""
        self._stopping = True
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
            max_ack_pending=1000,
        )

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.nats.wait_connected()
                self._sub = await self.nats.js.pull_subscribe(
                    self.filter_subject,
                    durable=self.durable,
                    stream=self.stream,
                    config=self._config(),
                )
                self._subscribed.set()
                await self._fetch_loop(self._sub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("consumer %s interrupted (%s); resubscribing", self.durable, exc)
                await asyncio.sleep(1)

    async def _fetch_loop(self, sub: Any) -> None:
        while not self._stopping:
            try:
                messages = await sub.fetch(self.batch, timeout=1)
            except TimeoutError:
                continue
            if self.transaction_per_batch and len(messages) > 1:
                await self.handle_batch(messages)
                continue
            for msg in messages:
                if self._stopping:
                    return  # unacked: redelivered to whoever consumes next
                await self.handle(msg)

    async def handle(self, msg: Msg) -> None:
        """Apply one delivery: once, retried with backoff, or dead-lettered."""
        try:
            envelope = EventEnvelope.model_validate_json(msg.data)
        except ValidationError as exc:
            await self._deadletter(msg, f"malformed envelope: {exc.errors()[:3]}")
            return
        handler = self.handlers.get(envelope.type)
        if handler is None:
            if self.deadletter_unknown:
                await self._deadletter(msg, f"no handler for {envelope.type}")
            else:
                await msg.ack()
            return
        try:
            outcome = await self._apply(envelope, handler)
        except Exception as exc:
            await self._retry_or_deadletter(msg, envelope, exc)
            return
        await msg.ack()
        CONSUMED.labels(self.durable, outcome).inc()

    async def handle_batch(self, messages: Sequence[Msg]) -> None:
        """Apply a batch in one transaction, then ack it; if that fails, each message on its own."""
        ready: list[tuple[Msg, EventEnvelope, Handler]] = []
        for msg in messages:
            routed = await self._route(msg)
            if routed is not None:
                ready.append((msg, *routed))
        if not ready:
            return
        try:
            outcomes = await self._apply_batch([(envelope, handler) for _, envelope, handler in ready])
        except Exception as exc:
            logger.warning("batch of %d failed (%s); applying one by one", len(ready), exc)
            for msg, _, _ in ready:
                await self.handle(msg)
            return
        for (msg, _, _), outcome in zip(ready, outcomes, strict=True):
            await msg.ack()
            CONSUMED.labels(self.durable, outcome).inc()

    async def _route(self, msg: Msg) -> tuple[EventEnvelope, Handler] | None:
        """The envelope and its handler; a malformed or unknown message is settled here (None)."""
        try:
            envelope = EventEnvelope.model_validate_json(msg.data)
        except ValidationError as exc:
            await self._deadletter(msg, f"malformed envelope: {exc.errors()[:3]}")
            return None
        handler = self.handlers.get(envelope.type)
        if handler is None:
            if self.deadletter_unknown:
                await self._deadletter(msg, f"no handler for {envelope.type}")
            else:
                await msg.ack()
            return None
        return envelope, handler

    async def _apply_batch(self, batch: Sequence[tuple[EventEnvelope, Handler]]) -> list[str]:
        """One transaction for the whole batch (see `apply_first_seen`)."""
        async with self.db.sessions() as session, session.begin():
            return await apply_first_seen(session, self.processed, self.durable, batch)

    async def _apply(self, envelope: EventEnvelope, handler: Handler) -> str:
        ctx = extract_context({"traceparent": envelope.traceparent or ""})
        with tracer().start_as_current_span(f"consume {envelope.type}", context=ctx):
            async with self.db.sessions() as session, session.begin():
                first_time = await session.execute(
                    pg_insert(self.processed)
                    .values(consumer=self.durable, event_id=envelope.id)
                    .on_conflict_do_nothing()
                    .returning(self.processed.c.event_id)
                )
                if first_time.first() is None:
                    return "duplicate"
                await handler(session, envelope)
                return "applied"

    async def _retry_or_deadletter(self, msg: Msg, envelope: EventEnvelope, exc: Exception) -> None:
        attempt = msg.metadata.num_delivered or 1
        if attempt >= self.max_deliver:
            logger.error("event %s failed %d times; dead-lettered: %s", envelope.id, attempt, exc)
            await self._deadletter(msg, repr(exc))
            return
        delay = self.backoff[min(attempt - 1, len(self.backoff) - 1)]
        logger.warning("event %s failed (attempt %d), retry in %ss: %s", envelope.id, attempt, delay, exc)
        CONSUMED.labels(self.durable, "retried").inc()
        await msg.nak(delay=delay)

    async def _deadletter(self, msg: Msg, error: str) -> None:
        await deadletter(self.nats, msg, consumer=self.durable, error=error)
        CONSUMED.labels(self.durable, "deadlettered").inc()


async def apply_first_seen(
    session: AsyncSession, processed: Table, consumer: str, batch: Sequence[tuple[EventEnvelope, Handler]]
) -> list[str]:
    """In the caller's transaction: record every event id as processed by `consumer`, then apply
    each event recorded for the first time; "applied" or "duplicate" per event, in order.

    An id already recorded (a redelivery, a replay) is a duplicate, and so is the second
    occurrence of an id within the batch. The batched consumer and the analytics rebuild share it.
    """
    if not batch:
        return []
    rows = [{"consumer": consumer, "event_id": envelope.id} for envelope, _ in batch]
    record = pg_insert(processed).on_conflict_do_nothing().returning(processed.c.event_id)
    connection = await session.connection()
    fresh = {row[0] for row in await connection.execute(record, rows)}
    outcomes: list[str] = []
    for envelope, handler in batch:
        if envelope.id not in fresh:
            outcomes.append("duplicate")
            continue
        fresh.discard(envelope.id)  # the same event twice in one batch: applied once
        ctx = extract_context({"traceparent": envelope.traceparent or ""})
        with tracer().start_as_current_span(f"consume {envelope.type}", context=ctx):
            await handler(session, envelope)
        outcomes.append("applied")
    return outcomes


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
