"""The export job (`jobs.analytics.export.run.v1`): write a large export's file and report progress.

The task moves pending → running (counting, then writing rows, with a percentage) → completed,
its result `{"download_url", "count", "format", "expires_at"}`. The file is stored under the
task's id, so a redelivered job replaces what an interrupted run left and a completed task is
not run again. A job whose task this database does not know is acknowledged and dropped. The
last failed attempt marks the task failed with the reason.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

from fastapi import FastAPI
from sqlalchemy import select

from knowrithm_analytics.config import AnalyticsSettings
from knowrithm_analytics.exports.rows import FORMATS, KINDS, Range, count_rows, export_query
from knowrithm_analytics.exports.service import ExportSpec, build_export, store_export
from knowrithm_analytics.models import shared
from knowrithm_common.db.session import Database
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.analytics import ExportData
from knowrithm_common.messaging.jobs import JobContext, PermanentJobError
from knowrithm_common.tasks import TaskStatus, report_progress

logger = logging.getLogger(__name__)


async def _task_status(db: Database, envelope: EventEnvelope, data: ExportData) -> str | None:
    tasks = shared.tasks
    async with db.sessions() as session:
        stmt = select(tasks.c.status).where(
            tasks.c.id == data.task_id, tasks.c.company_id == envelope.company_id
        )
        return await session.scalar(stmt)


def _spec(envelope: EventEnvelope, data: ExportData) -> ExportSpec:
    if envelope.company_id is None or data.export_type not in KINDS or data.format not in FORMATS:
        raise PermanentJobError(f"unusable export job {envelope.id}: {data.export_type}/{data.format}")
    end = data.end_date or envelope.time
    return ExportSpec(envelope.company_id, data.export_type, data.format, Range(data.start_date, end))


async def _write(
    db: Database, settings: AnalyticsSettings, envelope: EventEnvelope, data: ExportData
) -> None:
    spec = _spec(envelope, data)
    progress = functools.partial(report_progress, db, shared.tasks, data.task_id, status=TaskStatus.RUNNING)
    await progress(progress=5, stage="counting rows")
    async with db.sessions() as session:
        total = await count_rows(session, export_query(spec.export_type, spec.company_id, spec.window))
        await progress(progress=10, stage="writing rows")

        async def written(done: int) -> None:
            await progress(progress=10 + 85 * done // max(total, 1), stage="writing rows")

        built = await build_export(session, spec, progress=written)
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=settings.export_ttl_hours)
    async with db.sessions() as session, session.begin():
        await store_export(
            session, data.task_id, spec, built, requested_by=envelope.actor.id, expires_at=expires_at
        )
    result = {
        "download_url": f"/api/v1/analytic/export/{data.task_id}/download",
        "count": built.count,
        "format": spec.fmt,
        "expires_at": expires_at.isoformat(),
    }
    await report_progress(
        db,
        shared.tasks,
        data.task_id,
        status=TaskStatus.COMPLETED,
        progress=100,
        stage="done",
        result=result,
    )


async def run_export(app: FastAPI, envelope: EventEnvelope, context: JobContext) -> None:
    """Handle one export job (idempotent: the file is keyed by the task)."""
    data = ExportData.model_validate(envelope.data)
    db: Database = app.state.db
    status = await _task_status(db, envelope, data)
    if status is None:
        logger.warning("export job %s: task %s is unknown here; dropped", envelope.id, data.task_id)
        return
    if status == TaskStatus.COMPLETED:
        return
    try:
        await _write(db, app.state.settings, envelope, data)
    except Exception as exc:
        if context.final_attempt or isinstance(exc, PermanentJobError):
            await report_progress(
                db, shared.tasks, data.task_id, status=TaskStatus.FAILED, error=f"The export failed: {exc}"
            )
        raise
