"""The idempotent consumer against the embedded Postgres and NATS JetStream."""

import asyncio
import uuid

from sqlalchemy import Column, String, Table, func, insert, select

from knowrithm_common.events import new_event
from knowrithm_common.events.auth import CompanyCreatedV1
from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.messaging.streams import DEADLETTER_PREFIX, DEADLETTER_STREAM

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
        assert await _eventually(lambda: _count_is(db, note, 1))
        await asyncio.sleep(1.0)
        assert await _count(db, note) == 1
    finally:
        await consumer.stop()


async def _count_is(db, note, n):
    return await _count(db, note) == n


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
