"""Durable, idempotent JetStream consumers with bounded redelivery and a dead-letter subject.

Each delivery runs its handler inside one database transaction that also records
(consumer, event id) in `processed_events`; a redelivered or replayed event finds its record
and changes nothing. Delivery itself (retries with backoff, the dead-letter subject, stopping)
is the one path of `knowrithm_common.messaging.delivery`, shared with the job workers.

Opt-in (`transaction_per_batch=True`): each fetched batch is applied in one transaction (its
processed-event records included) and acknowledged after the commit. A transaction per event
costs a BEGIN, a COMMIT and a session each; for a projection that writes a row or two per
event that is most of the time (measured in bench/analytics_projection.py). If the batch's
transaction fails, its messages are applied again one by one, the default way, so a poison
message is retried and dead-lettered alone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from prometheus_client import Counter
from sqlalchemy import Column, DateTime, MetaData, PrimaryKeyConstraint, String, Table, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.session import Database
from knowrithm_common.events.envelope import EventEnvelope
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.messaging.delivery import PullSubscriber
from knowrithm_common.messaging.delivery import deadletter as deadletter  # its home before delivery.py
from knowrithm_common.messaging.streams import EVENTS_STREAM
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


class EventConsumer(PullSubscriber[Handler]):
    """A durable pull consumer applying each event once, in a transaction, by event type."""

    kind = "event"

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
        super().__init__(
            nats=nats, durable=durable, filter_subject=filter_subject, stream=stream, handlers=handlers,
            max_deliver=max_deliver, backoff=backoff, ack_wait=ack_wait,
            # Projections start from the first event (ALL); a consumer that only reacts starts now.
            deliver_policy=DeliverPolicy.NEW if only_new else DeliverPolicy.ALL,
            max_ack_pending=1000, deadletter_unknown=deadletter_unknown,
        )
        self.db, self.processed = db, processed
        self.batch, self.transaction_per_batch = batch, transaction_per_batch

    async def _fetch_loop(self, sub: Any) -> None:
        while not self._stopping:
            messages = await self._fetch(sub, self.batch)
            if self.transaction_per_batch and len(messages) > 1:
                await self.handle_batch(messages)
                continue
            for msg in messages:
                if self._stopping:
                    return  # unacked: redelivered to whoever consumes next
                await self.handle(msg)

    async def handle(self, msg: Msg) -> None:
        """Apply one delivery: once, retried with backoff, or dead-lettered."""
        routed = await self._route(msg)
        if routed is None:
            return
        envelope, _ = routed
        try:
            (outcome,) = await self._apply([routed])
        except Exception as exc:
            await self._retry_or_deadletter(msg, envelope, exc)
            return
        await msg.ack()
        self._count(outcome, envelope)

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
            outcomes = await self._apply([(envelope, handler) for _, envelope, handler in ready])
        except Exception as exc:
            logger.warning("batch of %d failed (%s); applying one by one", len(ready), exc)
            for msg, _, _ in ready:
                await self.handle(msg)
            return
        for (msg, envelope, _), outcome in zip(ready, outcomes, strict=True):
            await msg.ack()
            self._count(outcome, envelope)

    async def _apply(self, batch: Sequence[tuple[EventEnvelope, Handler]]) -> list[str]:
        """One transaction for the events (see `apply_first_seen`)."""
        async with self.db.sessions() as session, session.begin():
            return await apply_first_seen(session, self.processed, self.durable, batch)

    def _count(self, outcome: str, envelope: EventEnvelope | None) -> None:
        CONSUMED.labels(self.durable, outcome).inc()


async def apply_first_seen(
    session: AsyncSession, processed: Table, consumer: str, batch: Sequence[tuple[EventEnvelope, Handler]]
) -> list[str]:
    """In the caller's transaction: record every event id as processed by `consumer`, then apply
    each event recorded for the first time; "applied" or "duplicate" per event, in order.

    An id already recorded (a redelivery, a replay) is a duplicate, and so is the second
    occurrence of an id within the batch. Consumers (one event or a batch) and the analytics rebuild
    apply through it.
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
