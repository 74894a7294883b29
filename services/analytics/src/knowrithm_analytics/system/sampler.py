"""The system-metric sampler: a sample every `system_metric_sample_seconds`, and samples on request.

Scheduled samples (labelled `sample: scheduled`) record the platform's health and each
company's API traffic (measures.py). Their traffic intervals are chained: each covers the
time from the previous scheduled sample (the first ever: one interval) up to now minus a
short settling delay (usage events reach analytics a second or two after the request), so
every request whose event arrived within that delay is counted in exactly one scheduled
sample; after an outage the first sample covers the whole gap. The first sample is taken at
start. Old samples are pruned after `system_metric_retention_days`.

Several replicas: each takes the sample under a PostgreSQL advisory lock and only if no
scheduled sample was recorded in the last 0.9 interval, so replicas never record the same
interval twice; whichever replica is due first samples, and if it stops another takes over.

Samples on request (`POST /api/v1/system-metric`) are task rows of kind `system_metric_sample`
in the tasks table: the request commits a pending task and wakes this loop; any replica
claims it (`FOR UPDATE SKIP LOCKED`), measures the last interval, records the values
(labelled `sample: requested`, outside the chain) and completes the task with them. A task a
crashed replica left running is claimed again after `STALE_TASK`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.config import AnalyticsSettings
from knowrithm_analytics.exports.service import prune_expired
from knowrithm_analytics.models import shared
from knowrithm_analytics.system import repository as repo
from knowrithm_analytics.system.measures import (
    Measure,
    company_traffic,
    every_company_traffic,
    platform_health,
)
from knowrithm_analytics.webhooks.repository import prune_deliveries
from knowrithm_analytics.windows import Window
from knowrithm_common.db.session import Database, after_commit
from knowrithm_common.messaging.connection import NatsConnection, stop_task
from knowrithm_common.tasks import TaskStatus, create_task, report_progress

logger = logging.getLogger(__name__)

TASK_KIND = "system_metric_sample"
STALE_TASK = dt.timedelta(minutes=5)
MAX_SETTLE_SECONDS = 5.0
# pg_advisory_xact_lock key of the scheduled sample (any constant shared by every replica).
SAMPLE_LOCK_KEY = 0x6B6E_5359_534D_4554


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SystemSampler:
    """The background loop of one replica (see the module docstring)."""

    def __init__(self, *, db: Database, nats: NatsConnection, settings: AnalyticsSettings) -> None:
        self.db, self.nats = db, nats
        self.interval = dt.timedelta(seconds=settings.system_metric_sample_seconds)
        self.settle = dt.timedelta(seconds=min(MAX_SETTLE_SECONDS, settings.system_metric_sample_seconds / 2))
        self.retention = dt.timedelta(days=settings.system_metric_retention_days)
        self.delivery_retention = dt.timedelta(days=settings.webhook_delivery_retention_days)
        self.consumer = settings.projections_consumer
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="system-sampler")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await stop_task(self._task)

    async def wake(self) -> None:
        """Look for requested samples now (called once a request's task has committed)."""
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self._stopping:
            if loop.time() >= due:
                await self._safely(self.scheduled_sample)
                due = loop.time() + self.interval.total_seconds()
            await self._safely(self.run_requested)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, due - loop.time()))
            self._wake.clear()

    async def _safely(self, step: Any) -> None:
        try:
            await step()
        except Exception:  # the database or NATS away: try again next time
            logger.exception("system metric sampling failed")

    async def scheduled_sample(self) -> bool:
        """Record the platform's sample unless another replica recorded this interval's; True if recorded."""
        async with self.db.sessions() as session, session.begin():
            if not await session.scalar(select(func.pg_try_advisory_xact_lock(SAMPLE_LOCK_KEY))):
                return False
            end = _now() - self.settle
            last = await repo.last_scheduled(session)
            if last is not None and last > end - 0.9 * self.interval:
                return False
            start = end - self.interval if last is None else last
            window = Window(start, end)
            measures = await platform_health(session, self.nats, self.consumer, window)
            measures += await every_company_traffic(session, window)
            await repo.record(session, measures, at=end, labels=repo.SCHEDULED)
            await repo.prune(session, _now() - self.retention)
            # housekeeping rides along, once per interval across replicas
            await prune_expired(session, _now())
            await prune_deliveries(session, _now() - self.delivery_retention)
        return True

    async def run_requested(self) -> None:
        """Take every requested sample waiting, one at a time."""
        while not self._stopping and (claimed := await self._claim()) is not None:
            task_id, company_id = claimed
            try:
                result = await self.requested_sample(task_id, company_id)
            except Exception as exc:
                logger.exception("requested system metric sample %s failed", task_id)
                await report_progress(
                    self.db,
                    shared.tasks,
                    task_id,
                    status=TaskStatus.FAILED,
                    stage="failed",
                    error=f"sampling failed: {exc}",
                )
                continue
            await report_progress(
                self.db,
                shared.tasks,
                task_id,
                status=TaskStatus.COMPLETED,
                progress=100,
                stage="completed",
                result=result,
            )

    async def _claim(self) -> tuple[uuid.UUID, uuid.UUID | None] | None:
        tasks = shared.tasks
        waiting = (
            select(tasks.c.id)
            .where(
                tasks.c.kind == TASK_KIND,
                (tasks.c.status == TaskStatus.PENDING.value)
                | ((tasks.c.status == TaskStatus.RUNNING.value) & (tasks.c.updated_at < _now() - STALE_TASK)),
            )
            .order_by(tasks.c.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claim = (
            update(tasks)
            .where(tasks.c.id == waiting)
            .values(status=TaskStatus.RUNNING.value, progress=10, stage="measuring", updated_at=func.now())
            .returning(tasks.c.id, tasks.c.company_id)
        )
        async with self.db.sessions() as session, session.begin():
            row = (await session.execute(claim)).first()
        return None if row is None else (row.id, row.company_id)

    async def requested_sample(self, task_id: uuid.UUID, company_id: uuid.UUID | None) -> dict[str, Any]:
        """Measure the last interval now (the platform, or one company) and record it; the task's result."""
        end = _now()
        window = Window(end - self.interval, end)
        async with self.db.sessions() as session:
            if company_id is None:
                own = await platform_health(session, self.nats, self.consumer, window)
                companies = await every_company_traffic(session, window)
            else:
                own, companies = await company_traffic(session, company_id, window), []
        await report_progress(
            self.db, shared.tasks, task_id, status=TaskStatus.RUNNING, progress=60, stage="recording"
        )
        async with self.db.sessions() as session, session.begin():
            await repo.record(session, [*own, *companies], at=end, labels=repo.REQUESTED)
        return _result(end, window, company_id, own, companies)


def _result(
    at: dt.datetime,
    window: Window,
    company_id: uuid.UUID | None,
    own: list[Measure],
    companies: list[Measure],
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "sampled_at": at.isoformat(),
        "company_id": None if company_id is None else str(company_id),
        "window": window.as_dict(),
        "metrics": {m.name: m.value for m in own},
    }
    if company_id is None:
        result["companies_sampled"] = len({m.company_id for m in companies})
    return result


async def request_sample(
    session: AsyncSession, *, company_id: uuid.UUID | None, sampler: SystemSampler | None
) -> uuid.UUID:
    """Ask for a sample now (an admin's company, or the platform): a task that a sampler takes;
    this replica's `sampler` is woken once the task has committed."""
    task_id = await create_task(session, shared.tasks, company_id=company_id, kind=TASK_KIND)
    if sampler is not None:  # otherwise any replica's sampler finds the task on its next round
        after_commit(session, sampler.wake)
    return task_id
