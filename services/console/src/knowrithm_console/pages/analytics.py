"""Analytics (admins only): trends over a chosen period, the agents side by side, the lead
funnel, the API keys' usage, and exports with their progress followed live.

Everything comes from the public API with the signed-in admin's token: `/analytic/trends`,
`/analytic/agents`, `/analytic/leads`, and the API-key analytics (`/overview`, `/top-endpoints`,
`/error-analysis`, `/rate-limit-analysis`, `/api-key-performance`, which count back a number of
days from now). Exports: `POST /analytic/export`; a small one comes back as the file, a large one
as a task whose progress (`/tasks/{id}/status`) the export's page follows, then its file
(`/analytic/export/{id}/download`) is passed on through the console.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import Response, StreamingResponse

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages import analytics_view as view
from knowrithm_console.pages.messages import message_of
from knowrithm_console.web import N_, PREFIX, Page, admin_page, page_of, redirect, render

router = APIRouter(prefix=f"{PREFIX}/analytics")
PageDep = Annotated[Page, Depends(page_of)]

EXPORT_TYPES: dict[str, str] = {
    "conversations": N_("Conversations"),
    "leads": N_("Leads"),
    "agents": N_("Agents"),
    "usage": N_("API usage"),
}
EXPORT_FORMATS: dict[str, str] = {"csv": N_("CSV (spreadsheets)"), "json": N_("JSON")}
KEY_STATUSES: dict[str, str] = {
    "active": N_("Active"),
    "inactive": N_("Inactive"),
    "revoked": N_("Revoked"),
    "expired": N_("Expired"),
}
STAGES: dict[str, str] = {
    "counting rows": N_("Counting rows"),
    "writing rows": N_("Writing rows"),
    "done": N_("Done"),
}
RATE_LIMIT_DAYS = 30  # the rate-limit analysis looks back at most 30 days
PASSED_ON = ("content-type", "content-disposition", "content-length")


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


async def _get(page: Page, path: str, **params: Any) -> dict[str, Any]:
    assert page.session is not None
    return await page.api.call(page.session, "GET", path, client=page.client, params=params)


async def _numbers(page: Page, period: view.Period) -> dict[str, Any]:
    """Every answer the screen needs for `period`, asked at once."""
    window = period.window()
    days = period.usage_days(_today())
    names = ("trends", "agents", "leads", "overview", "endpoints", "errors", "rates", "keys")
    answers = await asyncio.gather(
        _get(page, "/api/v1/analytic/trends", **window),
        _get(page, "/api/v1/analytic/agents", **window),
        _get(page, "/api/v1/analytic/leads", **window),
        _get(page, "/api/v1/overview", days=days),
        _get(page, "/api/v1/top-endpoints", days=days, limit=10),
        _get(page, "/api/v1/error-analysis", days=days),
        _get(page, "/api/v1/rate-limit-analysis", days=min(days, RATE_LIMIT_DAYS)),
        _get(page, "/api/v1/api-key-performance", days=days),
    )
    found: dict[str, Any] = dict(zip(names, answers, strict=True))
    for name in ("overview", "endpoints", "errors", "rates", "keys"):
        found[name] = found[name].get("data") or {}
    found["usage_days"] = days
    return found


def _context(page: Page, numbers: dict[str, Any]) -> dict[str, Any]:
    l10n = page.l10n
    agents = numbers["agents"].get("agents") or []
    funnel = numbers["leads"].get("lead_status_distribution") or {}
    endpoints = numbers["endpoints"].get("endpoints") or []
    return {
        "trends": view.trend_figures(l10n, numbers["trends"]),
        "agents": agents,
        "agents_figure": view.agents_figure(l10n, agents),
        "funnel_figure": view.funnel_figure(l10n, funnel),
        "overview": numbers["overview"],
        "endpoints_figure": view.endpoints_figure(l10n, endpoints),
        "errors": numbers["errors"],
        "rates": numbers["rates"].get("high_usage_api_keys") or [],
        "api_keys": numbers["keys"].get("api_keys") or [],
        "usage_days": numbers["usage_days"],
        "rate_days": min(numbers["usage_days"], RATE_LIMIT_DAYS),
        "seconds": lambda v: view.seconds_text(l10n, v),
        "ms": lambda v: view.milliseconds_text(l10n, v),
        "pct": lambda v: view.percent_text(l10n, v),
        "day": lambda d: view.day_text(l10n, d),
    }


@router.get("")
async def analytics(
    page: PageDep,
    period: Annotated[str, Query(max_length=10)] = "",
    start: Annotated[str, Query(max_length=40)] = "",
    end: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The Analytics screen for the chosen period (the last 30 days unless told)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    form = view.period_of(period, start, end, _today())
    return await _screen(page, form)


async def _screen(
    page: Page, form: view.PeriodForm, *, export_error: str | None = None, status: int = 200
) -> Response:
    common = {
        "form": form,
        "key_statuses": KEY_STATUSES,
        "presets": view.PRESETS,
        "export_types": EXPORT_TYPES,
        "export_formats": EXPORT_FORMATS,
        "export_error": export_error,
    }
    if form.period is None:
        return await render(page, "analytics.html", status=422, numbers=None, **common)
    numbers = _context(page, await _numbers(page, form.period))
    return await render(page, "analytics.html", status=status, numbers=numbers, **common)


@router.post("/export")
async def export(
    page: PageDep,
    type: Annotated[str, Form(max_length=20)] = "conversations",
    format: Annotated[str, Form(max_length=10)] = "csv",
    period: Annotated[str, Form(max_length=10)] = "",
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Ask the API for an export of the period: a small one is the file, a large one a task to follow."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    form = view.period_of(period, start, end, _today())
    if form.period is None:
        return await _screen(page, form)
    body = {"type": type, "format": format, **form.period.window()}
    try:
        resp = await page.api.open(
            page.session, "POST", "/api/v1/analytic/export", client=page.client, json=body
        )
    except ApiError as exc:
        if exc.status not in (400, 422):
            raise
        return await _screen(page, form, export_error=message_of(exc), status=400)
    try:
        content = await resp.aread()
    finally:
        await resp.aclose()
    if resp.status_code == 202:
        return redirect(page, f"{PREFIX}/analytics/exports/{uuid.UUID(str(resp.json()['task_id']))}")
    extension = "csv" if format == "csv" else "json"
    headers = {
        "Content-Disposition": resp.headers.get(
            "content-disposition", f'attachment; filename="{type}-export.{extension}"'
        ),
        "Cache-Control": "no-store",
    }
    return Response(content, media_type=resp.headers.get("content-type"), headers=headers)


async def _task(page: Page, task_id: uuid.UUID) -> dict[str, Any]:
    task = await _get(page, f"/api/v1/tasks/{task_id}/status")
    if task.get("kind") not in (None, "analytics_export"):
        raise ApiError(404, "task_not_found", _("There is no export with this number."))
    return task


def _stage(task: dict[str, Any]) -> str:
    stage = task.get("stage")
    if not stage:
        return _("Waiting to start")
    return _(STAGES[stage]) if stage in STAGES else str(stage)


@router.get("/exports/{task_id}")
async def export_page(page: PageDep, task_id: uuid.UUID) -> Response:
    """A large export's page: its progress, followed live, then its download."""
    if (gone := await admin_page(page)) is not None:
        return gone
    task = await _task(page, task_id)
    return await render(
        page, "analytics_export.html", task=task, task_id=task_id, stage=_stage(task), polled=False
    )


@router.get("/exports/{task_id}/status")
async def export_status(page: PageDep, task_id: uuid.UUID) -> Response:
    """The export's progress alone, which the export's page asks for every second until it ends."""
    if (gone := await admin_page(page)) is not None:
        return gone
    task = await _task(page, task_id)
    return await render(
        page, "_export_status.html", task=task, task_id=task_id, stage=_stage(task), polled=True
    )


@router.get("/exports/{task_id}/download")
async def export_download(page: PageDep, task_id: uuid.UUID) -> Response:
    """The export's file, streamed from the API through the console."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    resp = await page.api.open(
        page.session, "GET", f"/api/v1/analytic/export/{task_id}/download", client=page.client
    )

    async def body() -> Any:
        try:
            async for chunk in resp.aiter_bytes():
                yield chunk
        finally:
            await resp.aclose()

    headers = {name: resp.headers[name] for name in PASSED_ON if name in resp.headers}
    if "content-encoding" in resp.headers:  # passed on decoded: the length told was the encoded one
        headers.pop("content-length", None)
    headers["Cache-Control"] = "no-store"
    return StreamingResponse(body(), headers=headers)
