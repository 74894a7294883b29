"""Exports: small ones built in the request; large ones queued as a task and its job (the export
job builds and stores them for download)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.config import AnalyticsSettings
from knowrithm_analytics.exports.render import MEDIA_TYPES, ExportWriter, filename
from knowrithm_analytics.exports.rows import KINDS, Range, count_rows, export_query
from knowrithm_analytics.models import ExportFile, outbox, shared
from knowrithm_common.errors import BadRequest, NotFound
from knowrithm_common.events import Actor
from knowrithm_common.events.analytics import ExportData
from knowrithm_common.tasks import create_task

Progress = Callable[[int], Awaitable[None]]
PROGRESS_EVERY = 1000  # rows between progress reports of a large export
TASK_KIND = "analytics_export"


class InvalidExportType(BadRequest):
    code = "invalid_export_type"
    message = f"type must be one of: {', '.join(KINDS)}"


class InvalidExportFormat(BadRequest):
    code, message = "invalid_export_format", "format must be json or csv"


class ExportTooLarge(BadRequest):
    code, message = "export_too_large", "The export has too many rows: narrow the date range"


class ExportNotFound(NotFound):
    code, message = "export_not_found", "Export not found or expired"


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What to export, for which company."""

    company_id: uuid.UUID
    export_type: str
    fmt: str
    window: Range

    def metadata(self, exported_at: dt.datetime) -> dict[str, Any]:
        return {
            "company_id": str(self.company_id),
            "export_type": self.export_type,
            "format": self.fmt,
            "date_range": self.window.as_dict(),
            "exported_at": exported_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class BuiltExport:
    content: bytes
    count: int
    filename: str
    media_type: str


@dataclass(frozen=True, slots=True)
class QueuedExport:
    """A large export left to the export job: its task, and how many rows it will hold."""

    task_id: uuid.UUID
    rows: int


async def request_export(
    session: AsyncSession, spec: ExportSpec, *, settings: AnalyticsSettings, actor: Actor
) -> BuiltExport | QueuedExport:
    """A small export built now; a large one queued as a task and its job (400 past the maximum)."""
    rows = await count_rows(session, export_query(spec.export_type, spec.company_id, spec.window))
    if rows > settings.export_max_rows:
        raise ExportTooLarge(detail={"rows": rows, "max_rows": settings.export_max_rows})
    if rows <= settings.export_inline_rows:
        return await build_export(session, spec)
    task_id = await create_task(session, shared.tasks, company_id=spec.company_id, kind=TASK_KIND)
    job = ExportData(
        task_id=task_id,
        export_type=spec.export_type,
        format=spec.fmt,
        start_date=spec.window.start,
        end_date=spec.window.end,
    )
    await outbox.add(session, job, company_id=spec.company_id, actor=actor)
    return QueuedExport(task_id, rows)


async def build_export(
    session: AsyncSession, spec: ExportSpec, *, progress: Progress | None = None
) -> BuiltExport:
    """Read the export's rows in one pass and write the file."""
    exported_at = dt.datetime.now(dt.UTC)
    query = export_query(spec.export_type, spec.company_id, spec.window)
    writer = ExportWriter(
        key=KINDS[spec.export_type].key,
        fmt=spec.fmt,
        columns=[c.name for c in query.selected_columns],
        metadata=spec.metadata(exported_at),
    )
    result = await session.stream(query.execution_options(yield_per=PROGRESS_EVERY))
    async for row in result.mappings():
        writer.add(row)
        if progress is not None and writer.count % PROGRESS_EVERY == 0:
            await progress(writer.count)
    return BuiltExport(
        content=writer.finish(),
        count=writer.count,
        filename=filename(spec.export_type, spec.fmt, exported_at),
        media_type=MEDIA_TYPES[spec.fmt],
    )


async def store_export(
    session: AsyncSession,
    export_id: uuid.UUID,
    spec: ExportSpec,
    built: BuiltExport,
    *,
    requested_by: uuid.UUID | None,
    expires_at: dt.datetime,
) -> None:
    """Keep a built export for download, replacing what an interrupted run of the same task left."""
    await session.execute(delete(ExportFile).where(ExportFile.id == export_id))
    session.add(
        ExportFile(
            id=export_id,
            company_id=spec.company_id,
            requested_by=requested_by,
            export_type=spec.export_type,
            format=spec.fmt,
            filename=built.filename,
            media_type=built.media_type,
            row_count=built.count,
            content=built.content,
            expires_at=expires_at,
        )
    )
    await session.flush()


async def find_export(
    session: AsyncSession, export_id: uuid.UUID, company_id: uuid.UUID | None
) -> tuple[str, str, int]:
    """Filename, media type and size of an export of the company that has not expired, else 404."""
    stmt = select(ExportFile.filename, ExportFile.media_type, func.octet_length(ExportFile.content)).where(
        ExportFile.id == export_id, ExportFile.expires_at > dt.datetime.now(dt.UTC)
    )
    if company_id is not None:
        stmt = stmt.where(ExportFile.company_id == company_id)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise ExportNotFound()
    return row[0], row[1], int(row[2])


async def read_chunk(session: AsyncSession, export_id: uuid.UUID, offset: int, size: int) -> bytes:
    """`size` bytes of an export's file from `offset` (0-based)."""
    stmt = select(func.substring(ExportFile.content, offset + 1, size)).where(ExportFile.id == export_id)
    return bytes(await session.scalar(stmt) or b"")


async def prune_expired(session: AsyncSession, now: dt.datetime) -> int:
    """Delete exports whose download expired; how many."""
    result = await session.execute(delete(ExportFile).where(ExportFile.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)
