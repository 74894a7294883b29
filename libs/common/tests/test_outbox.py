"""Outbox + relay against the embedded Postgres and NATS JetStream."""

import asyncio
import uuid

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from knowrithm_common.events import new_event
from knowrithm_common.events.auth import CompanyCreatedV1
from knowrithm_common.messaging.outbox import OutboxRelay, record_event
from knowrithm_common.messaging.streams import EVENTS_STREAM


def _event():
    company = uuid.uuid4()
    return new_event(
        CompanyCreatedV1(company_id=company, name="Acme", email=f"{company}@acme.test"),
        source="libtest", company_id=company,
    )


async def _stream_messages_with_id(nats, event_id: str) -> int:
    """How many messages in EVENTS carry this event id (JetStream dedupe must keep it at 1)."""
    js = nats.js
    sub = await js.pull_subscribe("events.auth.company.created.v1", stream=EVENTS_STREAM)
    found = 0
    try:
        while True:
            msgs = await sub.fetch(200, timeout=0.5)
            for m in msgs:
                if m.headers and m.headers.get("Nats-Msg-Id") == event_id:
                    found += 1
                await m.ack()
    except TimeoutError:
        pass
    finally:
        await sub.unsubscribe()
    return found


async def _published_at(db, tables, event_id):
    async with db.sessions() as s:
        return await s.scalar(select(tables.outbox.c.published_at).where(tables.outbox.c.id == event_id))


async def _wait_published(db, tables, event_id, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await _published_at(db, tables, event_id) is not None:
            return True
        await asyncio.sleep(0.1)
    return False


async def _eventually(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _pending(service):
    return REGISTRY.get_sample_value("knowrithm_outbox_pending", {"service": service}) or 0


async def test_event_of_rolled_back_change_is_never_recorded(db, tables):
    event = _event()
    with pytest.raises(RuntimeError):
        async with db.sessions() as s, s.begin():
            await record_event(s, tables.outbox, event)
            raise RuntimeError("the change failed")
    async with db.sessions() as s:
        assert await s.scalar(select(tables.outbox.c.id).where(tables.outbox.c.id == event.id)) is None


async def test_committed_event_is_published_once_with_its_id(db, tables, nats):
    relay = OutboxRelay(db=db, table=tables.outbox, nats=nats, service="libtest", poll_seconds=0.2)
    await relay.start()
    try:
        event = _event()
        async with db.session() as s, s.begin():
            await record_event(s, tables.outbox, event)
        assert await _wait_published(db, tables, event.id, timeout=5)
    finally:
        await relay.stop()
    assert await _stream_messages_with_id(nats, event.id) == 1


async def test_event_waits_while_nats_is_down_and_is_published_once_after(stack, db, tables, nats):
    service = f"libtest-{uuid.uuid4().hex[:8]}"
    relay = OutboxRelay(db=db, table=tables.outbox, nats=nats, service=service, poll_seconds=0.2)
    await relay.start()
    stack.stop_server("nats")
    try:
        event = _event()
        async with db.session() as s, s.begin():
            await record_event(s, tables.outbox, event)
        # The relay has found the row and kept it: it reports it pending while NATS is away.
        assert await _eventually(lambda: _pending(service) >= 1)
        assert await _published_at(db, tables, event.id) is None
    finally:
        await asyncio.to_thread(stack.start_server, "nats")
    try:
        assert await _wait_published(db, tables, event.id, timeout=20)
    finally:
        await relay.stop()
    assert await _stream_messages_with_id(nats, event.id) == 1


async def test_republishing_the_same_event_is_deduplicated_by_jetstream(db, tables, nats):
    event = _event()
    for _ in range(2):
        ack = await nats.js.publish(
            event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id}
        )
    assert ack.duplicate is True
    assert await _stream_messages_with_id(nats, event.id) == 1
