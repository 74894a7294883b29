"""The audit log (admins): who did what, on what, with which risk, from where; filters and paging.

`GET /api/v1/audit-log` with the signed-in admin's token: a company admin gets the company's
log, a super admin what the API gives them (every company's). Filters are the API's: actor
(a user of the company, from `GET /api/v1/admin/user`), action (exact, or a prefix ending in
`*`), risk level and a date range, read as whole days in the user's time zone. A filter the
console or the API refuses is shown next to its field, and nothing is listed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of
from knowrithm_console.web import N_, PREFIX, Page, admin_page, page_of, render

router = APIRouter(prefix=f"{PREFIX}/audit")
PageDep = Annotated[Page, Depends(page_of)]
PER_PAGE = 20
Text = Annotated[str, Query(max_length=200)]

RISKS: dict[str, str] = {
    "low": N_("Low risk"), "medium": N_("Medium risk"), "high": N_("High risk"),
    "critical": N_("Critical risk"),
}


@dataclass(slots=True)
class Filters:
    """The screen's filters as typed, and what the API is asked for once they are valid."""

    actor: str = ""
    action: str = ""
    risk: str = ""
    start: str = ""
    end: str = ""
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return bool(self.actor or self.action or self.risk or self.start or self.end)

    def query(self, page: int) -> str:
        """This filter's URL query string, at `page`."""
        shown = {"actor": self.actor, "action": self.action, "risk": self.risk, "start": self.start,
                 "end": self.end}
        return urlencode({**{k: v for k, v in shown.items() if v}, "page": page})

    def params(self, zone: dt.tzinfo) -> dict[str, Any]:
        """The API's parameters; fills `errors` (by field) for what cannot be sent."""
        found: dict[str, Any] = {"page": self.page, "per_page": PER_PAGE}
        if self.actor:
            try:
                found["actor_id"] = str(uuid.UUID(self.actor))
            except ValueError:
                self.errors["actor"] = _("Choose a person from the list.")
        if self.action:
            found["action"] = self.action
        if self.risk:
            if self.risk in RISKS:
                found["risk_level"] = self.risk
            else:
                self.errors["risk"] = _("Choose a risk level from the list.")
        for name, key, days in (("start", "start_date", 0), ("end", "end_date", 1)):
            value = getattr(self, name)
            if not value:
                continue
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                self.errors[name] = _("Enter a date as YYYY-MM-DD.")
                continue
            # whole days in the user's zone: from the start day's midnight to the end day's end
            found[key] = dt.datetime.combine(day + dt.timedelta(days=days), dt.time(), zone).isoformat()
        if self.start and self.end and not self.errors and self.start > self.end:
            self.errors["end"] = _("The end date is before the start date.")
        return found


async def _people(page: Page) -> dict[str, str]:
    """Users the admin may pick as actor: id → name (e-mail)."""
    assert page.session is not None
    body = await page.api.call(page.session, "GET", "/api/v1/admin/user", client=page.client,
                               params={"per_page": 100, "sort_by": "email", "sort_order": "asc"})
    return {str(u["id"]): _person(u) for u in body.get("users") or []}


def _person(user: dict[str, Any]) -> str:
    parts = (user.get("first_name"), user.get("last_name"))
    name = " ".join(p for p in parts if p) or user.get("username", "")
    return f"{name} ({user.get('email', '')})" if name else str(user.get("email", ""))


async def _actor_names(page: Page, entries: list[dict[str, Any]], known: dict[str, str]) -> dict[str, str]:
    """Names of the page's actors and users acted on: the admin's list, then each unknown one asked
    for once."""
    assert page.session is not None
    names = dict(known)
    ids = [(e.get("actor") or {}).get(key) for e in entries for key in ("id", "impersonator_id")]
    targets = [e.get("target") or {} for e in entries]
    ids += [t.get("id") for t in targets if t.get("type") == "user"]
    for actor_id in ids:
        if not actor_id or actor_id in names:
            continue
        try:
            body = await page.api.call(page.session, "GET", f"/api/v1/admin/user/{actor_id}",
                                       client=page.client)
            names[actor_id] = _person(body.get("data") or {})
        except ApiError as exc:
            if exc.status not in (403, 404):
                raise
            names[actor_id] = actor_id[:8]
    return names


def _api_errors(exc: ApiError) -> dict[str, str]:
    """The API's refusal of a filter, placed next to the field it concerns."""
    text = message_of(exc)
    if exc.code == "invalid_date_range":
        return {"start" if "start_date is not" in exc.message else "end": text}
    fields = {"actor_id": "actor", "action": "action", "risk_level": "risk", "start_date": "start",
              "end_date": "end"}
    placed: dict[str, str] = {}
    for item in exc.detail if isinstance(exc.detail, list) else []:
        loc = item.get("loc") if isinstance(item, dict) else None
        if isinstance(loc, list) and loc and str(loc[-1]) in fields:
            placed.setdefault(fields[str(loc[-1])], str(item.get("msg", text)))
    return placed or {"action": text}


@router.get("")
async def audit_log(
    page: PageDep, actor: Text = "", action: Text = "", risk: Text = "", start: Text = "", end: Text = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """The audit log, newest first, 20 a page, filtered by actor, action, risk and dates."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    filters = Filters(actor.strip(), action.strip(), risk.strip(), start.strip(), end.strip(), page_number)
    params = filters.params(page.l10n.zone)
    entries: list[dict[str, Any]] = []
    pagination: dict[str, Any] = {}
    people = await _people(page)
    if not filters.errors:
        try:
            body = await page.api.call(page.session, "GET", "/api/v1/audit-log", client=page.client,
                                       params=params)
            entries, pagination = body.get("audit_logs") or [], body.get("pagination") or {}
        except ApiError as exc:
            if exc.status not in (400, 422):
                raise
            filters.errors = _api_errors(exc)
    status = 422 if filters.errors else 200
    return await render(page, "audit.html", status=status, entries=entries, pagination=pagination,
                        filters=filters, people=people, names=await _actor_names(page, entries, people),
                        risks=RISKS)
