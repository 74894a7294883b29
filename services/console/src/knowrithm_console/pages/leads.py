"""Leads (admins only): the company's leads with filters and inline status changes, a lead's
detail with its conversations and their messages, the GDPR export and erasure.

Everything goes through the public API (`/api/v1/lead…`) with the signed-in admin's token.
The API lets members read leads, but changing, exporting and erasing them is for admins, so
the console shows the whole screen to admins only: plain users do not see it in the
navigation and a typed URL answers a 403 page. Another company's lead is the API's 404.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import Response

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of
from knowrithm_console.web import N_, PREFIX, Page, admin_page, page_of, redirect, render

router = APIRouter(prefix=f"{PREFIX}/leads")
PageDep = Annotated[Page, Depends(page_of)]
PER_PAGE = 50

# The API's statuses, in their order of a lead's life; labels translated where shown.
STATUSES: dict[str, str] = {
    "new": N_("New"), "contacted": N_("Contacted"), "qualified": N_("Qualified"),
    "converted": N_("Converted"), "lost": N_("Lost"),
}


def day(value: str) -> str:
    """A YYYY-MM-DD date as typed, or "" when it is none."""
    try:
        return dt.date.fromisoformat(value.strip()).isoformat() if value.strip() else ""
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True)
class Filters:
    """The list's filters, as the API takes them (unknown values are dropped, not sent)."""

    status: str = ""
    agent_id: str = ""
    search: str = ""
    page: int = 1
    since: str = ""  # YYYY-MM-DD: created on or after that day
    until: str = ""  # YYYY-MM-DD: created on or before that day

    @classmethod
    def of(
        cls, status: str, agent_id: str, search: str, page: int, since: str = "", until: str = ""
    ) -> Filters:
        try:
            agent = str(uuid.UUID(agent_id)) if agent_id else ""
        except ValueError:
            agent = ""
        status = status if status in STATUSES else ""
        return cls(status, agent, search.strip()[:255], max(1, min(page, 10_000)), day(since), day(until))

    def params(self) -> dict[str, Any]:
        found: dict[str, Any] = {"page": self.page, "per_page": PER_PAGE}
        if self.status:
            found["status"] = self.status
        if self.agent_id:
            found["agent_id"] = self.agent_id
        if self.search:
            found["search"] = self.search
        if self.since:
            found["from"] = self.since
        if self.until:
            found["to"] = self.until
        return found

    def query(self, page: int) -> str:
        from urllib.parse import urlencode

        return urlencode({**{k: v for k, v in self.params().items() if k != "per_page"}, "page": page})


async def _agents(page: Page) -> dict[str, str]:
    assert page.session is not None
    body = await page.api.call(page.session, "GET", "/api/v1/agent", client=page.client,
                               params={"per_page": 100})
    return {str(a["id"]): str(a.get("name") or a["id"]) for a in body.get("agents") or []}


@router.get("")
async def leads(
    page: PageDep, status: Annotated[str, Query(max_length=20)] = "",
    agent_id: Annotated[str, Query(max_length=40)] = "", search: Annotated[str, Query(max_length=300)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
    since: Annotated[str, Query(alias="from", max_length=20)] = "",
    until: Annotated[str, Query(alias="to", max_length=20)] = "",
) -> Response:
    """The company's leads, newest first, 50 a page, filtered by status, agent, name/e-mail and
    creation date."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    filters = Filters.of(status, agent_id, search, page_number, since, until)
    body = await page.api.call(page.session, "GET", "/api/v1/lead/company", client=page.client,
                               params=filters.params())
    data = body.get("data") or {}
    return await render(page, "leads.html", leads=data.get("leads") or [],
                        pagination=data.get("pagination") or {}, filters=filters, agents=await _agents(page),
                        statuses=STATUSES)


async def _lead(page: Page, lead_id: uuid.UUID) -> dict[str, Any]:
    assert page.session is not None
    body = await page.api.call(page.session, "GET", f"/api/v1/lead/{lead_id}", client=page.client)
    lead: dict[str, Any] = body["lead"]
    return lead


@router.post("/{lead_id}/status")
async def change_status(
    page: PageDep, lead_id: uuid.UUID, status: Annotated[str, Form(max_length=20)] = "",
    back: Annotated[str, Form(max_length=20)] = "list",
) -> Response:
    """Change a lead's status; htmx swaps the changed row (or the detail's status) in place.

    A refusal comes back with 200 under htmx (htmx swaps no 4xx answer) and the API's message
    next to the select."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    error = None
    try:
        body = await page.api.call(page.session, "PUT", f"/api/v1/lead/{lead_id}", client=page.client,
                                   json={"status": status})
        lead = body["lead"]
    except ApiError as exc:
        if exc.status not in (400, 422):
            raise
        error = exc.field_errors().get("status") or message_of(exc)
        lead = await _lead(page, lead_id)
    if not page.htmx:
        if error is None:
            page.session.notice = _("Status saved: %(status)s.") % {"status": _(STATUSES[lead["status"]])}
            await page.store.save(page.session)
        target = f"{PREFIX}/leads/{lead_id}" if back == "detail" else f"{PREFIX}/leads"
        return redirect(page, target)
    template = "_lead_status.html" if back == "detail" else "_lead_row.html"
    return await render(page, template, lead=lead, statuses=STATUSES, changed=True, error=error,
                        agents=await _agents(page) if back != "detail" else {})


@router.get("/{lead_id}/status")
async def status_form(page: PageDep, lead_id: uuid.UUID) -> Response:
    """A list row's status field, brought in by htmx (without it: the detail's status form)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    if not page.htmx:
        return redirect(page, f"{PREFIX}/leads/{lead_id}#lead-status")
    return await render(page, "_lead_status_form.html", lead=await _lead(page, lead_id), statuses=STATUSES,
                        where="list", editing=True, changed=False, error=None)


@router.get("/{lead_id}")
async def lead_detail(page: PageDep, lead_id: uuid.UUID) -> Response:
    """One lead: details, status, and every conversation with its messages (from the GDPR export)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    lead = await _lead(page, lead_id)
    held = await page.api.call(page.session, "GET", f"/api/v1/lead/{lead_id}/export", client=page.client)
    return await render(page, "lead.html", lead=lead, conversations=held.get("conversations") or [],
                        statuses=STATUSES, changed=False, error=None)


@router.get("/{lead_id}/export")
async def export(page: PageDep, lead_id: uuid.UUID) -> Response:
    """Everything held about the lead (GDPR access), downloaded as a JSON file."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    import json

    held = await page.api.call(page.session, "GET", f"/api/v1/lead/{lead_id}/export", client=page.client)
    return Response(
        json.dumps(held, ensure_ascii=False, indent=2), media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="lead-{lead_id}.json"',
                 "Cache-Control": "no-store"},
    )


def _erase_word() -> str:
    return _("erase")


@router.get("/{lead_id}/erase")
async def erase_form(page: PageDep, lead_id: uuid.UUID) -> Response:
    """The erase confirmation (htmx shows it as a dialog in the detail page; else as a page)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    lead = await _lead(page, lead_id)
    template = "_lead_erase.html" if page.htmx else "lead_erase.html"
    return await render(page, template, lead=lead, word=_erase_word(), errors={})


@router.post("/{lead_id}/erase")
async def erase(
    page: PageDep, lead_id: uuid.UUID, confirm: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    """Erase the lead (GDPR) once the person typed the confirmation word; then back to the list."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    if confirm.strip().casefold() != _erase_word().casefold():
        lead = await _lead(page, lead_id)
        errors = {"confirm": _("Type “%(word)s” to confirm.") % {"word": _erase_word()}}
        template = "_lead_erase.html" if page.htmx else "lead_erase.html"
        return await render(page, template, status=422, lead=lead, word=_erase_word(), errors=errors)
    body = await page.api.call(page.session, "DELETE", f"/api/v1/lead/{lead_id}/data", client=page.client)
    page.session.notice = _(
        "The lead's data is erased (conversations: %(conversations)s, messages: %(messages)s).") % {
        "conversations": body.get("deleted_conversations", 0), "messages": body.get("deleted_messages", 0)}
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/leads")
