"""Workers for the JOBS work queue: explicit acks, heartbeats for long jobs, and a concurrency
limit; redelivery with backoff and the dead-letter subject are the one delivery path of
`knowrithm_common.messaging.delivery`, shared with the event consumers.

Unlike event consumers, a job is not applied inside one transaction: processing a file takes
minutes and many short transactions. Handlers are idempotent instead (they replace what an
interrupted run left), so a worker killed mid-job leaves work that the redelivery completes.
While a handler runs, the message is kept in progress (`+WPI`) every third of `ack_wait`; if
the worker dies, the heartbeats stop and JetStream redelivers after `ack_wait`. The queue depth
(`knowrithm_jobs_pending`) is sampled from the consumer every `depth_interval` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from prometheus_client import Counter, Gauge, Histogram

from knowrithm_common.events.envelope import EventEnvelope
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.messaging.delivery import DEADLETTERED, PullSubscriber, attempt_of
from knowrithm_common.messaging.streams import JOBS_STREAM
from knowrithm_common.telemetry import extract_context, tracer

logger = logging.getLogger(__name__)

JOBS_DONE = Counter("knowrithm_jobs_total", "Jobs handled by workers", ["worker", "type", "outcome"])
JOB_SECONDS = Histogram(
    "knowrithm_job_duration_seconds", "Time a worker spent on one job", ["worker", "type"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
JOBS_RUNNING = Gauge("knowrithm_jobs_running", "Jobs being handled now", ["worker"])
JOBS_PENDING = Gauge(
    "knowrithm_jobs_pending", "Jobs queued for a worker: waiting plus delivered but not yet acked", ["worker"]
)


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler knows about this delivery."""

    attempt: int  # 1 for the first delivery
    max_attempts: int

    @property
    def final_attempt(self) -> bool:
        """No redelivery follows a failure now: record the failure for the user."""
        return self.attempt >= self.max_attempts


JobHandler = Callable[[EventEnvelope, JobContext], Awaitable[None]]


class PermanentJobError(Exception):
    """A job that can never succeed (retrying will not help): dead-lettered at once."""


class JobWorker(PullSubscriber[JobHandler]):
    """A durable pull consumer on the JOBS stream running up to `concurrency` jobs at once."""

    kind = "job"
    depth_interval: float = 5.0  # seconds between queue-depth samples (knowrithm_jobs_pending)

    def __init__(
        self,
        *,
        nats: NatsConnection,
        durable: str,
        filter_subject: str,
        handlers: Mapping[str, JobHandler],
        concurrency: int = 2,
        ack_wait: float = 60,
        max_deliver: int = 5,
        backoff: Sequence[float] = (2, 10, 30, 60),
        stream: str = JOBS_STREAM,
    ) -> None:
        concurrency = max(1, concurrency)
        super().__init__(
            nats=nats, durable=durable, filter_subject=filter_subject, stream=stream, handlers=handlers,
            max_deliver=max_deliver, backoff=backoff, ack_wait=ack_wait, deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=max(64, concurrency * 4), deadletter_unknown=True,
        )
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()
        self._depth_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        self._depth_task = asyncio.create_task(self._sample_depth(), name=f"jobs-depth-{self.durable}")

    async def stop(self) -> None:
        """Stop fetching; jobs in hand are cancelled and redelivered to another worker."""
        self._stopping = True
        if self._depth_task is not None:  # it sleeps most of the time: cancel rather than wait
            self._depth_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._depth_task
        await super().stop()
        for task in list(self._running):
            task.cancel()
        for task in list(self._running):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _sample_depth(self) -> None:
        # The depth lives on the server: every replica of a worker reports the same value (dashboards: max).
        while not self._stopping:
            with contextlib.suppress(Exception):  # NATS away or consumer not created yet: keep last value
                info = await self.nats.js.consumer_info(self.stream, self.durable)
                JOBS_PENDING.labels(self.durable).set((info.num_pending or 0) + (info.num_ack_pending or 0))
            await asyncio.sleep(self.depth_interval)

    async def _fetch_loop(self, sub: Any) -> None:
        while not self._stopping:
            await self._until_stopped(self._slots.acquire())  # a free slot, or the stop request
            try:
                messages = await self._fetch(sub, 1)
            except BaseException:
                self._slots.release()
                raise
            if not messages or self._stopping:
                self._slots.release()
                continue  # a message fetched while stopping stays unacked: redelivered
            task = asyncio.create_task(self._handle_and_release(messages[0]))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _handle_and_release(self, msg: Msg) -> None:
        try:
            await self.handle(msg)
        finally:
            self._slots.release()

    async def handle(self, msg: Msg) -> None:
        """Run one delivery: ack on success, retry later, or dead-letter."""
        routed = await self._route(msg)
        if routed is None:
            return
        envelope, handler = routed
        context = JobContext(attempt=attempt_of(msg), max_attempts=self.max_deliver)
        heartbeat = asyncio.create_task(self._heartbeat(msg))
        started = time.perf_counter()
        JOBS_RUNNING.labels(self.durable).inc()
        try:
            with tracer().start_as_current_span(
                f"job {envelope.type}", context=extract_context({"traceparent": envelope.traceparent or ""})
            ):
                await handler(envelope, context)
        except asyncio.CancelledError:
            raise  # shutting down: no ack, JetStream redelivers
        except PermanentJobError as exc:
            await self._deadletter(msg, str(exc), envelope)
            return
        except Exception as exc:
            await self._retry_or_deadletter(msg, envelope, exc)
            return
        finally:
            heartbeat.cancel()
            JOBS_RUNNING.labels(self.durable).dec()
            JOB_SECONDS.labels(self.durable, envelope.type).observe(time.perf_counter() - started)
        await msg.ack_sync()
        self._count("completed", envelope)

    def _count(self, outcome: str, envelope: EventEnvelope | None) -> None:
        if envelope is None:
            return  # unreadable: no job type to count it under (the dead-letter subject has it)
        # A job given up on (dead-lettered after its handler failed) counts as failed.
        JOBS_DONE.labels(self.durable, envelope.type, "failed" if outcome == DEADLETTERED else outcome).inc()

    async def _heartbeat(self, msg: Msg) -> None:
        interval = max(self.ack_wait / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await msg.in_progress()
