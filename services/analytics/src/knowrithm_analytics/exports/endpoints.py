"""HTTP API of exports: POST /analytic/export and the download of a large export's file.

Admins (API keys with `read`: `CompanyAdminRead`) export their company; super admins name one
with `?company_id=` (without: 400 `company_id_required`).
Up to `ANALYTICS_EXPORT_INLINE_ROWS` rows answer at once: the JSON body, or a CSV attachment.
Bigger exports answer 202 with a task; the export job writes the file and the task's result
holds its `download_url`, valid for `ANALYTICS_EXPORT_TTL_HOURS` (then 404). Without
`start_date` an export starts at the beginning; `end_date` defaults to now.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from knowrithm_analytics.exports.rows import FORMATS, KINDS, Range
from knowrithm_analytics.exports.service import (
    ExportSpec,
    InvalidExportFormat,
    InvalidExportType,
    QueuedExport,
    find_export,
    read_chunk,
    request_export,
)
from knowrithm_analytics.windows import InvalidDateRange, parse_instant
from knowrithm_common.db import RequestSession
from knowrithm_common.db.session import Database
from knowrithm_common.tasks import TASK_ACCEPTED, accepted
from knowrithm_common.tenancy import COMPANY_NOT_FOUND, CompanyAdminRead, Subject

router = APIRouter(tags=["Analytics"], responses=COMPANY_NOT_FOUND)

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


def export_spec(body: ExportBody, subject: Subject) -> ExportSpec:
    """Check the request: a known type and format, a readable date range, one company."""
    if body.type not in KINDS:
        raise InvalidExportType(detail={"type": body.type})
    if body.format not in FORMATS:
        raise InvalidExportFormat(detail={"format": body.format})
    start = parse_instant(body.start_date, "start_date")
    end = parse_instant(body.end_date, "end_date") or dt.datetime.now(dt.UTC)
    if start is not None and start > end:
        raise InvalidDateRange("start_date is after end_date")
    return ExportSpec(subject.company, body.type, body.format, Range(start, end))


def attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.post("/api/v1/analytic/export", responses=EXPORTED)
async def export_data(
    subject: CompanyAdminRead, body: ExportBody, request: Request, session: RequestSession
) -> Response:
    """Export conversations, leads, agents or API usage as JSON or CSV (large exports run as a task)."""
    spec = export_spec(body, subject)
    export = await request_export(session, spec, settings=request.app.state.settings, actor=subject.actor)
    if isinstance(export, QueuedExport):
        message = "The export is being prepared; the task's result will hold its download URL."
        return JSONResponse({**accepted(export.task_id, message), "row_count": export.rows}, status_code=202)
    headers = attachment(export.filename) if spec.fmt == "csv" else None
    return Response(export.content, media_type=export.media_type, headers=headers)


@router.get("/api/v1/analytic/export/{export_id}/download", responses=DOWNLOAD)
async def download_export(
    subject: CompanyAdminRead, export_id: uuid.UUID, request: Request
) -> StreamingResponse:
    """The file of a large export of the caller's company, until it expires."""
    db: Database = request.app.state.db
    async with db.sessions() as session:
        name, media_type, size = await find_export(session, export_id, subject.company_id)

    async def chunks():  # type: ignore[no-untyped-def]
        async with db.sessions() as chunk_session:
            for offset in range(0, size, DOWNLOAD_CHUNK):
                yield await read_chunk(chunk_session, export_id, offset, DOWNLOAD_CHUNK)

    headers = {**attachment(name), "Content-Length": str(size)}
    return StreamingResponse(chunks(), media_type=media_type, headers=headers)
