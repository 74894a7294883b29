"""The platform's system screens (super admins): configuration, health, metrics per company.

- Configuration: `GET /api/v1/config` (the platform's own keys with their defaults, and every
  stored entry) and `PATCH /api/v1/config` one entry at a time; the API's validation message
  lands next to the value it refused. Sensitive values are never put into the page: the API
  withholds them from admins, and even for a super admin the screen says "hidden" and offers
  an empty field (write-only, like the agents' provider keys).
- Health: `GET /api/v1/super-admin/health` (the gateway asks each process's readiness); the
  table is fetched again every 5 s by htmx, and a change of any status is announced once in
  the page's `role="status"` region (out-of-band swap), never on an unchanged poll.
- Metrics: `GET /api/v1/admin/system-metric` (the platform) or
  `GET /api/v1/super-admin/company/{id}/system-metric` (one company, chosen from
  `GET /api/v1/super-admin/company`); figures and times in the person's locale.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.platform_forms import refusals
from knowrithm_console.web import N_, PREFIX, Page, page_of, redirect, render, super_admin_page

router = APIRouter(prefix=f"{PREFIX}/platform")
PageDep = Annotated[Page, Depends(page_of)]
CONFIG = f"{PREFIX}/platform/config"
STATUSES = {"up": N_("Up"), "degraded": N_("Degraded"), "down": N_("Down")}
PROBLEMS = {"timeout": N_("No answer in time"), "unreachable": N_("Not reachable"),
            "no readiness report": N_("No readiness report")}


async def _call(page: Page, method: str, path: str, **options: Any) -> dict[str, Any]:
    assert page.session is not None
    return await page.api.call(page.session, method, path, client=page.client, **options)


# -- configuration


def config_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The platform's keys (in force: the entry, else the default) then the other stored entries."""
    stored = {str(e["config_key"]): e for e in body.get("configs") or []}
    rows = []
    for known in body.get("known_keys") or []:
        entry = stored.pop(str(known["config_key"]), None)
        rows.append({"key": known["config_key"], "type": known["config_type"], "known": known,
                     "entry": entry})
    rows += [{"key": key, "type": e["config_type"], "known": None, "entry": e}
             for key, e in sorted(stored.items())]
    return rows


def shown_value(row: dict[str, Any]) -> str:
    """A row's value as text for its field; empty for sensitive entries (write-only)."""
    entry = row["entry"]
    if entry is None or entry.get("is_sensitive") or entry.get("is_masked"):
        return ""
    value = entry.get("config_value")
    if row["type"] == "json":
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


async def _config_page(page: Page, *, errors: dict[str, str], error: str | None, typed: dict[str, str],
                       status: int = 200) -> Response:
    body = await _call(page, "GET", "/api/v1/config")
    return await render(page, "platform_config.html", status=status, rows=config_rows(body), errors=errors,
                        error=error, typed=typed, shown_value=shown_value)


@router.get("/config")
async def config(page: PageDep) -> Response:
    """The configuration: the platform's keys and every stored entry, each with its field."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    return await _config_page(page, errors={}, error=None, typed={})


def _value(raw: str, config_type: str) -> Any:
    """The JSON value to send: JSON entries parsed, others as typed (the API reads and checks them)."""
    if config_type == "json":
        return json.loads(raw)
    return raw


@router.post("/config")
async def save_config(page: PageDep) -> Response:
    """`PATCH /config` for one key: a new value, or (Reset) its removal; refusals next to the field."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    form = await page.request.form()
    key, config_type = str(form.get("config_key") or "")[:100], str(form.get("config_type") or "string")
    raw = str(form.get("config_value") or "").strip()
    reset = form.get("reset") is not None
    try:
        value = None if reset else _value(raw, config_type)
        body: dict[str, Any] = {"config_key": key, "config_value": value}
    except ValueError:
        return await _config_page(page, errors={key: _("This is not valid JSON.")}, error=None,
                                  typed={key: raw}, status=422)
    if not reset and not raw:
        return await _config_page(page, errors={key: _("Enter a value (or reset the key to its default).")},
                                  error=None, typed={key: raw}, status=422)
    try:
        await _call(page, "PATCH", "/api/v1/config", json=body)
    except ApiError as exc:
        if exc.status not in (400, 415, 422):
            raise
        errors, error = refusals(exc, {"config_value", "config_key", "config_type"})
        field = next(iter(errors.values()), None)
        return await _config_page(page, errors={key: field} if field else {}, error=error,
                                  typed={key: raw}, status=exc.status)
    assert page.session is not None
    notice = _("“%(key)s” is back to its default.") if reset else _("“%(key)s” saved.")
    page.session.notice = notice % {"key": key}
    await page.store.save(page.session)
    return redirect(page, f"{CONFIG}#row-{key}")


# -- health


def _signature(report: dict[str, Any]) -> str:
    return ",".join(f"{s['name']}={s['status']}" for s in report.get("services") or [])


def changes(previous: str, report: dict[str, Any]) -> list[str]:
    """What changed since the `previous` signature, in words (empty when nothing did)."""
    before = dict(part.split("=", 1) for part in previous.split(",") if "=" in part)
    said = []
    for service in report.get("services") or []:
        old = before.get(service["name"])
        if previous and old != service["status"]:
            said.append(_("%(service)s is now %(status)s.") % {
                "service": service["name"], "status": _(STATUSES.get(service["status"], service["status"]))})
    return said


async def _health(page: Page, template: str, previous: str) -> Response:
    report = await _call(page, "GET", "/api/v1/super-admin/health")
    return await render(page, template, report=report, signature=_signature(report),
                        changed=changes(previous, report), statuses=STATUSES, problems=PROBLEMS)


@router.get("/health")
async def health(page: PageDep) -> Response:
    """Every process's health as its readiness reports it; refreshed every few seconds."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    return await _health(page, "platform_health.html", "")


@router.get("/health/live")
async def health_live(page: PageDep, previous: Annotated[str, Query(max_length=2000)] = "") -> Response:
    """The health table again (htmx polling); a status change is announced out of band."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    return await _health(page, "_platform_health.html", previous)


# -- metrics


async def _companies(page: Page) -> list[dict[str, Any]]:
    body = await _call(page, "GET", "/api/v1/super-admin/company", params={"per_page": 100})
    return list(body.get("companies") or [])


def metric_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Each metric series (name and labels) with its latest value, time and number of samples."""
    rows = []
    for name, points in sorted((body.get("metrics") or {}).items()):
        series: dict[str, list[dict[str, Any]]] = {}
        for point in points or []:
            labels = point.get("labels") or {}
            shown = ", ".join(f"{k}: {v}" for k, v in sorted(labels.items()) if k != "company_id")
            series.setdefault(shown, []).append(point)
        for labels, found in series.items():
            last = found[-1]
            rows.append({"name": name, "labels": labels, "value": last.get("value"),
                         "at": last.get("timestamp"), "samples": len(found)})
    return rows


@router.get("/metrics")
async def metrics(page: PageDep, company_id: Annotated[str, Query(max_length=40)] = "") -> Response:
    """The platform's system metrics, or one company's (chosen in the form)."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    try:
        chosen = str(uuid.UUID(company_id)) if company_id else ""
    except ValueError:
        chosen = ""
    path = f"/api/v1/super-admin/company/{chosen}/system-metric" if chosen else "/api/v1/admin/system-metric"
    body = await _call(page, "GET", path)
    companies = await _companies(page)
    name = next((c["name"] for c in companies if str(c["id"]) == chosen), chosen)
    return await render(page, "platform_metrics.html", rows=metric_rows(body), companies=companies,
                        chosen=chosen, company_name=name, generated_at=body.get("generated_at"))
