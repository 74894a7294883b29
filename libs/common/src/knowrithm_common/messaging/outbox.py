"""Transactional outbox: events are written with the change, then relayed to JetStream.

A service adds the outbox row in the same transaction as its change, so an event exists if
and only if the change committed. The relay publishes pending rows with `Nats-Msg-Id` set to
the event id (JetStream drops duplicates inside the stream's window) and marks them
published; if NATS is down, rows wait and are published once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from prometheus_client import Counter, Gauge
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.session import Database
from knowrithm_common.events.envelope import Actor, EventData, EventEnvelope, new_event
from knowrithm_common.messaging.connection import NatsConnection, stop_task

logger = logging.getLogger(__name__)

RELAYED = Counter("knowrithm_outbox_published_total", "Outbox events published", ["service"])
PENDING = Gauge("knowrithm_outbox_pending", "Outbox events waiting to be published", ["service"])


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table in the schema of `metadata`."""
    return Table(
        "outbox",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("subject", String(255), nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text),
        Index("ix_outbox_pending", "created_at", postgresql_where="published_at IS NULL"),
    )


async def record_event(
    session: AsyncSession, table: Table, event: EventEnvelope, *, subject: str | None = None
) -> None:
    """Add `event` to the outbox inside the caller's transaction (flushed, not committed).

    `subject` overrides the event's own (`events.<type>`): jobs go to `jobs.<type>`.
    """
    await session.execute(
        insert(table).values(
            id=event.id, subject=subject or event.subject, envelope=event.model_dump(mode="json")
        )
    )


@dataclass(frozen=True, slots=True)
class Outbox:
    """A service's outbox: the one way to record an event or a job.

    `Outbox(source="auth", table=shared.outbox).add(session, payload, company_id=..., actor=...)`
    wraps the payload in an envelope stamped with the service's name, and adds it in the
    caller's transaction; it reaches JetStream (on the payload's own subject: `events.<type>`,
    or `jobs.<type>` for a job) when the transaction commits. Returns the envelope.
    """

    source: str
    table: Table

    async def add(
        self,
        session: AsyncSession,
        data: EventData,
        *,
        company_id: uuid.UUID | None,
        actor: Actor | None = None,
    ) -> EventEnvelope:
        event = new_event(data, source=self.source, company_id=company_id, actor=actor)
        await record_event(session, self.table, event, subject=data.subject())
        return event


class OutboxRelay:
    """Publishes committed outbox rows to JetStream; one per service process."""

    def __init__(
        self,
        *,
        db: Database,
        table: Table,
        nats: NatsConnection,
        service: str,
        poll_seconds: float = 1.0,
        batch_size: int = 100,
    ) -> None:
        self.db, self.table, self.nats, self.service = db, table, nats, service
        self.poll_seconds, self.batch_size = poll_seconds, batch_size
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        db.on_commit(self.wake)

    def wake(self) -> None:
        """Ask the relay to look for new rows now (called after commits)."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.service}")

    async def stop(self) -> None:
        """Finish the batch in flight, then stop (cancelling a commit can wedge a connection)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await stop_task(self._task)

    async def _run(self) -> None:
        backoff = 0.25
        while not self._stopping:
            try:
                published = await self.publish_pending()
                backoff = 0.25
                if published >= self.batch_size:
                    continue
            except Exception as exc:
                logger.warning("outbox relay failed (%s); retrying in %.2fs", exc, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            await self._sleep(self.poll_seconds)

    async def _sleep(self, seconds: float) -> None:
        """Wait `seconds` or until woken (a commit, or stop)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        t = self.table
        async with self.db.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(t.c.id, t.c.subject, t.c.envelope)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.created_at)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                PENDING.labels(self.service).set(0)
                return 0
            if not self.nats.connected:
                PENDING.labels(self.service).set(len(rows))
                raise ConnectionError("NATS disconnected; events stay in the outbox")
            done: list[str] = []
            failure: Exception | None = None
            for row in rows:
                try:
                    await self._publish(row.id, row.subject, row.envelope)
                except Exception as exc:
                    failure = exc
                    break
                done.append(row.id)
            # Rows published before a failure are marked (and committed) so they are not resent.
            if done:
                await session.execute(
                    update(t)
                    .where(t.c.id.in_(done))
                    .values(published_at=dt.datetime.now(dt.UTC), attempts=t.c.attempts + 1)
                )
        RELAYED.labels(self.service).inc(len(done))
        if failure is not None:
            raise failure
        return len(done)

    async def _publish(self, event_id: str, subject: str, envelope: dict[str, object]) -> None:
        headers = {"Nats-Msg-Id": event_id}
        traceparent = envelope.get("traceparent")
        if isinstance(traceparent, str):
            headers["traceparent"] = traceparent
        payload = EventEnvelope.model_validate(envelope).model_dump_json().encode()
        await self.nats.js.publish(subject, payload, headers=headers, timeout=2)
