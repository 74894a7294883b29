"""HTTP API of exports: POST /analytic/export and the download of a large export's file.

Admins (API keys with `read`) export their company; super admins name one with `?company_id=`.
Up to `ANALYTICS_EXPORT_INLINE_ROWS` rows answer at once: the JSON body, or a CSV attachment.
Bigger exports answer 202 with a task; the export job writes the file and the task's result
holds its `download_url`, valid for `ANALYTICS_EXPORT_TTL_HOURS` (then 404). Without
`start_date` an export starts at the beginning; `end_date` defaults to now.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from knowrithm_analytics.config import AnalyticsSettings
from knowrithm_analytics.exports.rows import FORMATS, KINDS, Range, count_rows, export_query
from knowrithm_analytics.exports.service import (
    CompanyRequired,
    ExportSpec,
    ExportTooLarge,
    InvalidExportFormat,
    InvalidExportType,
    build_export,
    find_export,
    read_chunk,
)
from knowrithm_analytics.models import shared
from knowrithm_analytics.scope import COMPANY_NOT_FOUND, CompanyScope, InvalidDateRange, Scope, parse_instant
from knowrithm_common.db import RequestSession
from knowrithm_common.db.session import Database
from knowrithm_common.events import new_event
from knowrithm_common.events.analytics import ExportData
from knowrithm_common.identity import Role, require_roles, require_scopes
from knowrithm_common.messaging.outbox import record_event
from knowrithm_common.tasks import TASK_ACCEPTED, accepted, create_task
from knowrithm_common.tenancy import actor_of

router = APIRouter(tags=["Analytics"], responses=COMPANY_NOT_FOUND)
exporters = [Depends(require_roles(Role.SUPER_ADMIN, Role.ADMIN)), Depends(require_scopes(["read"]))]

TASK_KIND = "analytics_export"
DOWNLOAD_CHUNK = 1024 * 1024
# The file is JSON or CSV as the export asked, so both media types are documented.
_FILE: dict[str, Any] = {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}
EXPORTED: dict[int | str, dict[str, Any]] = {
    200: {**_FILE, "description": "A small export itself: JSON, or CSV as an attachment"},
    202: {"description": "A large export runs as a task; its result holds the download URL",
          "content": {"application/json": {"schema": TASK_ACCEPTED}}},
}
DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {**_FILE, "description": "The export's file, as an attachment"},
}


class ExportBody(BaseModel):
    type: str = Field("conversations", description="conversations | leads | agents | usage")
    format: str = Field("json", description="json | csv")
    start_date: str | None = Field(None, description="ISO 8601; default: from the beginning")
    end_date: str | None = Field(None, description="ISO 8601; default: now")


def export_spec(body: ExportBody, scope: Scope) -> ExportSpec:
    """Check the request: a known type and format, a readable date range, one company."""
    if body.type not in KINDS:
        raise InvalidExportType(detail={"type": body.type})
    if body.format not in FORMATS:
        raise InvalidExportFormat(detail={"format": body.format})
    start = parse_instant(body.start_date, "start_date")
    end = parse_instant(body.end_date, "end_date") or dt.datetime.now(dt.UTC)
    if start is not None and start > end:
        raise InvalidDateRange("start_date is after end_date")
    if scope.company_id is None:
        raise CompanyRequired()
    return ExportSpec(scope.company_id, body.type, body.format, Range(start, end))


def attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.post("/api/v1/analytic/export", dependencies=exporters, responses=EXPORTED)
async def export_data(
    body: ExportBody, scope: CompanyScope, request: Request, session: RequestSession
) -> Response:
    """Export conversations, leads, agents or API usage as JSON or CSV (large exports run as a task)."""
    spec = export_spec(body, scope)
    settings: AnalyticsSettings = request.app.state.settings
    rows = await count_rows(session, export_query(spec.export_type, spec.company_id, spec.window))
    if rows > settings.export_max_rows:
        raise ExportTooLarge(detail={"rows": rows, "max_rows": settings.export_max_rows})
    if rows <= settings.export_inline_rows:
        built = await build_export(session, spec)
        headers = attachment(built.filename) if spec.fmt == "csv" else None
        return Response(built.content, media_type=built.media_type, headers=headers)
    task_id = await create_task(session, shared.tasks, company_id=spec.company_id, kind=TASK_KIND)
    job = ExportData(
        task_id=task_id,
        export_type=spec.export_type,
        format=spec.fmt,
        start_date=spec.window.start,
        end_date=spec.window.end,
    )
    event = new_event(
        job, source="analytics", company_id=spec.company_id, actor=actor_of(request, scope.principal)
    )
    await record_event(session, shared.outbox, event, subject=ExportData.subject())
    content = accepted(task_id, "The export is being prepared; the task's result will hold its download URL.")
    return JSONResponse({**content, "row_count": rows}, status_code=202)


@router.get("/api/v1/analytic/export/{export_id}/download", dependencies=exporters, responses=DOWNLOAD)
async def download_export(export_id: uuid.UUID, scope: CompanyScope, request: Request) -> StreamingResponse:
    """The file of a large export of the caller's company, until it expires."""
    db: Database = request.app.state.db
    async with db.sessions() as session:
        name, media_type, size = await find_export(session, export_id, scope.company_id)

    async def chunks():  # type: ignore[no-untyped-def]
        async with db.sessions() as chunk_session:
            for offset in range(0, size, DOWNLOAD_CHUNK):
                yield await read_chunk(chunk_session, export_id, offset, DOWNLOAD_CHUNK)

    headers = {**attachment(name), "Content-Length": str(size)}
    return StreamingResponse(chunks(), media_type=media_type, headers=headers)
