"""The idempotent consumer against the embedded Postgres and NATS JetStream."""

import asyncio
import uuid

from nats.js import JetStreamContext
from prometheus_client import REGISTRY
from sqlalchemy import Column, String, Table, func, insert, select

from knowrithm_common.events import new_event
from knowrithm_common.events.auth import CompanyCreatedV1
from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.messaging.streams import DEADLETTER_PREFIX, DEADLETTER_STREAM, EVENTS_STREAM

from .conftest import platform_metadata

applied = Table("consumer_applied", platform_metadata(), Column("note", String(100)))


async def record_note(session, event):
    """A handler with a visible effect: one row per application of an event."""
    await session.execute(insert(applied).values(note=event.data["name"]))


async def _ensure_table(db):
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: applied.create(c, checkfirst=True))


async def _count(db, note):
    async with db.sessions() as s:
        return await s.scalar(select(func.count()).select_from(applied).where(applied.c.note == note))


def _consumer(db, tables, nats, handlers, **kw):
    durable = f"libtest-{uuid.uuid4().hex[:8]}"
    return EventConsumer(
        db=db, processed=tables.processed, nats=nats, durable=durable,
        filter_subject=CompanyCreatedV1.subject(), handlers=handlers, only_new=True, **kw,
    )


async def _publish(nats, event, msg_id=None):
    await nats.js.publish(event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id or uuid.uuid4().hex})


async def _eventually(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


def _event(note):
    return new_event(CompanyCreatedV1(company_id=uuid.uuid4(), name=note, email="x@y.test"), source="t", company_id=None)


async def test_redelivered_event_is_applied_once(db, tables, nats):
    await _ensure_table(db)
    note = uuid.uuid4().hex

    event = _event(note)
    consumer = _consumer(db, tables, nats, {event.type: record_note})
    await consumer.start()
    await consumer.wait_subscribed()
    try:
        # The same envelope arriving twice (e.g. a replay): distinct stream messages, same event id.
        await _publish(nats, event)
        await _publish(nats, event)
        assert await _eventually(lambda: _handled(consumer, 2))
        assert await _count(db, note) == 1
        assert _consumed(consumer, "applied") == 1 and _consumed(consumer, "duplicate") == 1
    finally:
        await consumer.stop()


async def _count_is(db, note, n):
    return await _count(db, note) == n


async def _settled(nats, consumer, *, delivered):
    """Whether the consumer has been given `delivered` messages and acknowledged every one."""
    info = await nats.js.consumer_info(EVENTS_STREAM, consumer.durable)
    return info.delivered.consumer_seq >= delivered and info.num_pending == 0 and info.num_ack_pending == 0


def _consumed(consumer, outcome):
    return REGISTRY.get_sample_value(
        "knowrithm_events_consumed_total", {"consumer": consumer.durable, "outcome": outcome}
    ) or 0


async def _handled(consumer, n):
    """Whether the consumer has settled `n` deliveries (counted once each, after the ack)."""
    return sum(_consumed(consumer, o) for o in ("applied", "duplicate", "retried", "deadlettered")) == n


async def test_failing_handler_is_retried_then_dead_lettered_with_the_error(db, tables, nats):
    attempts = []

    async def handler(session, event):
        attempts.append(1)
        raise ValueError("projection exploded")

    event = _event("poison")
    consumer = _consumer(db, tables, nats, {event.type: handler}, max_deliver=3, backoff=(0.1,))
    dead = await nats.js.pull_subscribe(DEADLETTER_PREFIX + consumer.durable, stream=DEADLETTER_STREAM)
    await consumer.start()
    await consumer.wait_subscribed()
    try:
        await _publish(nats, event)
        msgs = await dead.fetch(1, timeout=15)
    finally:
        await consumer.stop()
    assert len(attempts) == 3
    assert "projection exploded" in msgs[0].headers["Knowrithm-Error"]
    assert msgs[0].headers["Knowrithm-Original-Subject"] == event.subject


async def test_malformed_message_goes_to_dead_letter_without_blocking_the_next(db, tables, nats):
    await _ensure_table(db)
    note = uuid.uuid4().hex

    good = _event(note)
    consumer = _consumer(db, tables, nats, {good.type: record_note})
    dead = await nats.js.pull_subscribe(DEADLETTER_PREFIX + consumer.durable, stream=DEADLETTER_STREAM)
    await consumer.start()
    await consumer.wait_subscribed()
    try:
        await nats.js.publish(good.subject, b"not json at all")
        await _publish(nats, good)
        assert await _eventually(lambda: _count_is(db, note, 1))
        msgs = await dead.fetch(1, timeout=10)
    finally:
        await consumer.stop()
    assert msgs[0].data == b"not json at all"


async def _fetch_pending(nats, subscriber, stream):
    """Whether a pull request of `subscriber` waits on the server (its fetch is in flight)."""
    return (await nats.js.consumer_info(stream, subscriber.durable)).num_waiting > 0


async def test_stop_of_an_idle_consumer_cancels_its_fetch_instead_of_waiting_it_out(db, tables, nats, monkeypatch):
    _fetches_wait_long(monkeypatch)
    consumer = _consumer(db, tables, nats, {})
    await consumer.start()
    await consumer.wait_subscribed()
    assert await _eventually(lambda: _fetch_pending(nats, consumer, EVENTS_STREAM))
    # Well under the 30 s fetch, and under the 5 s after which stop() cancels a loop that
    # does not end: the loop ended by itself.
    await asyncio.wait_for(consumer.stop(), timeout=4)
    assert consumer._task.done() and not consumer._task.cancelled()


async def test_stop_finishes_the_event_in_hand_and_acknowledges_it(db, tables, nats):
    await _ensure_table(db)
    note = uuid.uuid4().hex
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_note(session, event):
        started.set()
        await release.wait()
        await record_note(session, event)

    event = _event(note)
    consumer = _consumer(db, tables, nats, {event.type: slow_note})
    await consumer.start()
    await consumer.wait_subscribed()
    await _publish(nats, event)
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.ensure_future(consumer.stop())
    await asyncio.wait({stopping}, timeout=0.2)
    assert not stopping.done(), "stop() returned while an event was being applied"
    release.set()
    await asyncio.wait_for(stopping, 4)
    assert await _count(db, note) == 1
    assert await _settled(nats, consumer, delivered=1)


def _fetches_wait_long(monkeypatch):
    """Every fetch waits 30 s for messages: a stop that waits a fetch out cannot pass for prompt."""
    fetch = JetStreamContext.PullSubscription.fetch

    async def long_fetch(self, batch=1, timeout=5, heartbeat=None):
        return await fetch(self, batch, timeout=30, heartbeat=heartbeat)

    monkeypatch.setattr(JetStreamContext.PullSubscription, "fetch", long_fetch)
