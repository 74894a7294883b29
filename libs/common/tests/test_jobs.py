"""The JOBS worker against the embedded NATS JetStream: retries with backoff, dead-letter,
heartbeats for long jobs, concurrency."""

import asyncio
import uuid

from nats.js import JetStreamContext
from prometheus_client import REGISTRY

from knowrithm_common.events import new_event
from knowrithm_common.events.ingestion import ProcessDocument
from knowrithm_common.messaging.jobs import JobWorker, PermanentJobError
from knowrithm_common.messaging.streams import DEADLETTER_PREFIX, DEADLETTER_STREAM, JOBS_STREAM


def _worker(nats, handler, **kw):
    # A work-queue stream allows one consumer per subject: each test has its own subjects.
    prefix = f"jobs.libtest.{uuid.uuid4().hex[:8]}"
    worker = JobWorker(nats=nats, durable=f"libtest-{uuid.uuid4().hex[:8]}", filter_subject=f"{prefix}.>",
                       handlers={ProcessDocument.event_type: handler}, **kw)
    return worker, f"{prefix}.document"


async def _publish(nats, subject, count=1):
    for _ in range(count):
        job = new_event(ProcessDocument(document_id=uuid.uuid4()), source="t", company_id=None)
        await nats.js.publish(subject, job.model_dump_json().encode())


async def test_a_failing_job_is_retried_and_knows_its_last_attempt(nats):
    seen = []
    done = asyncio.Event()

    async def handler(envelope, ctx):
        seen.append((ctx.attempt, ctx.final_attempt))
        if ctx.attempt < 3:
            raise ConnectionError("provider busy")
        done.set()

    worker, subject = _worker(nats, handler, max_deliver=3, backoff=(0.1,))
    await worker.start()
    await worker.wait_subscribed()
    try:
        await _publish(nats, subject)
        await asyncio.wait_for(done.wait(), 15)
    finally:
        await worker.stop()
    assert seen == [(1, False), (2, False), (3, True)]


async def test_a_job_that_keeps_failing_is_dead_lettered_with_the_error(nats):
    attempts = []

    async def handler(envelope, ctx):
        attempts.append(ctx.attempt)
        raise ValueError("file exploded")

    worker, subject = _worker(nats, handler, max_deliver=2, backoff=(0.1,))
    dead = await nats.js.pull_subscribe(DEADLETTER_PREFIX + worker.durable, stream=DEADLETTER_STREAM)
    await worker.start()
    await worker.wait_subscribed()
    try:
        await _publish(nats, subject)
        (msg,) = await dead.fetch(1, timeout=15)
    finally:
        await worker.stop()
    assert attempts == [1, 2]
    assert "file exploded" in msg.headers["Knowrithm-Error"] and msg.headers["Knowrithm-Original-Subject"] == subject


async def test_a_permanent_error_is_dead_lettered_without_retries(nats):
    attempts = []

    async def handler(envelope, ctx):
        attempts.append(ctx.attempt)
        raise PermanentJobError("never going to work")

    worker, subject = _worker(nats, handler, max_deliver=5, backoff=(0.1,))
    dead = await nats.js.pull_subscribe(DEADLETTER_PREFIX + worker.durable, stream=DEADLETTER_STREAM)
    await worker.start()
    await worker.wait_subscribed()
    try:
        await _publish(nats, subject)
        await dead.fetch(1, timeout=10)
    finally:
        await worker.stop()
    assert attempts == [1]


async def _until(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def _acknowledged(nats, worker):
    """Whether every job the worker was given is acknowledged (none waiting, none in hand)."""
    info = await nats.js.consumer_info(JOBS_STREAM, worker.durable)
    return info.delivered.consumer_seq > 0 and info.num_pending == 0 and info.num_ack_pending == 0


async def test_a_long_job_is_kept_in_progress_and_not_redelivered(nats):
    calls = []

    async def handler(envelope, ctx):
        calls.append(ctx.attempt)
        await asyncio.sleep(3.5)  # longer than ack_wait: only heartbeats keep it ours

    worker, subject = _worker(nats, handler, ack_wait=1, max_deliver=3)
    await worker.start()
    await worker.wait_subscribed()
    try:
        await _publish(nats, subject)
        await _until(lambda: _acknowledged(nats, worker))  # a redelivery would have started meanwhile
    finally:
        await worker.stop()
    assert calls == [1]


async def test_jobs_run_concurrently_up_to_the_limit(nats):
    running, peak = 0, 0
    finished, two_running = asyncio.Event(), asyncio.Event()
    count = 0

    async def handler(envelope, ctx):
        nonlocal running, peak, count
        running += 1
        peak = max(peak, running)
        if running == 2:
            two_running.set()
        await asyncio.wait_for(two_running.wait(), 5)  # the first job waits for a second beside it
        await asyncio.sleep(0.05)  # a third would start now if the limit let it
        running -= 1
        count += 1
        if count == 4:
            finished.set()

    worker, subject = _worker(nats, handler, concurrency=2)
    await worker.start()
    await worker.wait_subscribed()
    try:
        await _publish(nats, subject, count=4)
        await asyncio.wait_for(finished.wait(), 10)
    finally:
        await worker.stop()
    assert peak == 2


async def test_queue_depth_gauge_counts_waiting_and_in_hand_jobs_then_drops_to_zero(nats):
    release = asyncio.Event()

    async def handler(envelope, ctx):
        await release.wait()

    worker, subject = _worker(nats, handler, concurrency=1)
    worker.depth_interval = 0.1

    async def depth_becomes(value):  # read as a Prometheus scrape would
        for _ in range(200):
            depth = REGISTRY.get_sample_value("knowrithm_jobs_pending", {"worker": worker.durable})
            if depth == value:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"queue depth stayed {depth}, expected {value}")

    await worker.start()
    await worker.wait_subscribed()
    try:
        await _publish(nats, subject, count=3)
        await depth_becomes(3)  # one in hand (unacked) + two waiting
        release.set()
        await depth_becomes(0)
    finally:
        await worker.stop()


async def test_stop_of_an_idle_worker_cancels_its_fetch_instead_of_waiting_it_out(nats, monkeypatch):
    _fetches_wait_long(monkeypatch)
    async def handler(envelope, ctx):
        raise AssertionError("no job was queued")

    worker, _ = _worker(nats, handler)
    await worker.start()
    await worker.wait_subscribed()

    async def fetch_pending():
        return (await nats.js.consumer_info(JOBS_STREAM, worker.durable)).num_waiting > 0

    await _until(fetch_pending)
    # Well under the 30 s fetch, and under the 5 s after which stop() cancels a loop that
    # does not end: the loop ended by itself.
    await asyncio.wait_for(worker.stop(), timeout=4)
    assert worker._task.done() and not worker._task.cancelled()


def _fetches_wait_long(monkeypatch):
    """Every fetch waits 30 s for messages: a stop that waits a fetch out cannot pass for prompt."""
    fetch = JetStreamContext.PullSubscription.fetch

    async def long_fetch(self, batch=1, timeout=5, heartbeat=None):
        return await fetch(self, batch, timeout=30, heartbeat=heartbeat)

    monkeypatch.setattr(JetStreamContext.PullSubscription, "fetch", long_fetch)
