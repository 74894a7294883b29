"""Workers for the JOBS work queue: explicit acks, heartbeats for long jobs, bounded
redelivery with backoff, a dead-letter subject, and a concurrency limit.

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

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError

from knowrithm_common.events.envelope import EventEnvelope
from knowrithm_common.messaging.connection import NatsConnection, stop_task
from knowrithm_common.messaging.consumer import deadletter
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


class JobWorker:
    """A durable pull consumer on the JOBS stream running up to `concurrency` jobs at once."""

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
        self.nats, self.durable, self.filter_subject = nats, durable, filter_subject
        self.handlers = dict(handlers)
        self.concurrency, self.ack_wait = max(1, concurrency), ack_wait
        self.max_deliver, self.backoff, self.stream = max_deliver, tuple(backoff), stream
        self._slots = asyncio.Semaphore(self.concurrency)
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._depth_task: asyncio.Task[None] | None = None
        self._sub: object | None = None
        self._stopping = False
        self._subscribed = asyncio.Event()

    async def wait_subscribed(self, timeout: float = 10) -> None:
        await asyncio.wait_for(self._subscribed.wait(), timeout)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"jobs-{self.durable}")
        self._depth_task = asyncio.create_task(self._sample_depth(), name=f"jobs-depth-{self.durable}")

    async def stop(self) -> None:
        """Stop fetching; jobs in hand are cancelled and redelivered to another worker."""
        self._stopping = True
        if self._depth_task is not None:  # it sleeps most of the time: cancel rather than wait
            self._depth_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._depth_task
        if self._task is not None:
            await stop_task(self._task)
        for task in list(self._running):
            task.cancel()
        for task in list(self._running):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver + 1,  # our last attempt still reaches us to dead-letter
            filter_subject=self.filter_subject,
            max_ack_pending=max(64, self.concurrency * 4),
        )

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.nats.wait_connected()
                sub = await self.nats.js.pull_subscribe(
                    self.filter_subject, durable=self.durable, stream=self.stream, config=self._config()
                )
                self._sub = sub
                self._subscribed.set()
                await self._fetch_loop(sub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("job worker %s interrupted (%s); resubscribing", self.durable, exc)
                await asyncio.sleep(1)

    async def _sample_depth(self) -> None:
        # The depth lives on the server: every replica of a worker reports the same value (dashboards: max).
        while not self._stopping:
            with contextlib.suppress(Exception):  # NATS away or consumer not created yet: keep last value
                info = await self.nats.js.consumer_info(self.stream, self.durable)
                JOBS_PENDING.labels(self.durable).set((info.num_pending or 0) + (info.num_ack_pending or 0))
            await asyncio.sleep(self.depth_interval)

    async def _fetch_loop(self, sub: object) -> None:
        while not self._stopping:
            try:  # a free slot, but never wait past a stop request for one
                await asyncio.wait_for(self._slots.acquire(), 1)
            except TimeoutError:
                continue
            try:
                messages = await sub.fetch(1, timeout=1)  # type: ignore[attr-defined]
            except TimeoutError:
                self._slots.release()
                continue
            except BaseException:
                self._slots.release()
                raise
            if self._stopping:
                self._slots.release()
                return  # unacked: redelivered
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
        try:
            envelope = EventEnvelope.model_validate_json(msg.data)
        except ValidationError as exc:
            await self._deadletter(msg, f"malformed job: {exc.errors()[:3]}")
            return
        handler = self.handlers.get(envelope.type)
        if handler is None:
            await self._deadletter(msg, f"no handler for {envelope.type}")
            return
        attempt = msg.metadata.num_delivered or 1
        context = JobContext(attempt=attempt, max_attempts=self.max_deliver)
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
            await self._deadletter(msg, str(exc))
            self._count(envelope, "failed")
            return
        except Exception as exc:
            await self._retry_or_deadletter(msg, envelope, context, exc)
            return
        finally:
            heartbeat.cancel()
            JOBS_RUNNING.labels(self.durable).dec()
            JOB_SECONDS.labels(self.durable, envelope.type).observe(time.perf_counter() - started)
        await msg.ack_sync()
        self._count(envelope, "completed")

    def _count(self, envelope: EventEnvelope, outcome: str) -> None:
        JOBS_DONE.labels(self.durable, envelope.type, outcome).inc()

    async def _heartbeat(self, msg: Msg) -> None:
        interval = max(self.ack_wait / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _retry_or_deadletter(
        self, msg: Msg, envelope: EventEnvelope, context: JobContext, exc: Exception
    ) -> None:
        if context.final_attempt:
            logger.error("job %s %s failed %d times; dead-lettered: %s", envelope.type, envelope.id,
                         context.attempt, exc)
            await self._deadletter(msg, repr(exc))
            self._count(envelope, "failed")
            return
        delay = self.backoff[min(context.attempt - 1, len(self.backoff) - 1)]
        logger.warning("job %s %s failed (attempt %d), retry in %ss: %s", envelope.type, envelope.id,
                       context.attempt, delay, exc)
        self._count(envelope, "retried")
        await msg.nak(delay=delay)

    async def _deadletter(self, msg: Msg, error: str) -> None:
        await deadletter(self.nats, msg, consumer=self.durable, error=error)
