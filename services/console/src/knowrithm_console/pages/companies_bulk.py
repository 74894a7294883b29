"""Deleted companies and what acts on several (super admins): the deleted list with Restore,
and bulk delete or restore of the rows selected (`DELETE /company/bulk-delete`, `PATCH
/company/bulk-restore`). A bulk delete is asked once more, naming the companies, before it is sent.

Its router is included before `pages/companies.py`'s, so `/deleted` and `/bulk` are never read
as a company id.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import Response

from knowrithm_console.i18n import gettext as _
from knowrithm_console.i18n import ngettext
from knowrithm_console.pages.companies import BASE, catalogue, list_query
from knowrithm_console.web import Page, page_of, redirect, render, super_admin_page

router = APIRouter(prefix=BASE)
PageDep = Annotated[Page, Depends(page_of)]
Ids = Annotated[list[str], Form()]


@router.get("/deleted")
async def deleted(
    page: PageDep, search: Annotated[str, Query(max_length=255)] = "",
    number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """Soft-deleted companies, most recently deleted first, each with Restore."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    search = search.strip()
    body = await catalogue(page, "/api/v1/company/deleted", search, number)
    return await render(page, "platform_companies.html", companies=body.get("companies") or [],
                        pagination=body.get("pagination") or {}, search=search, number=number,
                        query=list_query, deleted=True)


@router.post("/{company_id}/restore")
async def restore(page: PageDep, company_id: uuid.UUID) -> Response:
    """Restore a deleted company (`PATCH /company/{id}/restore`) with what was deleted with it."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    assert page.session is not None
    body = await page.api.call(page.session, "PATCH", f"/api/v1/company/{company_id}/restore",
                               client=page.client)
    name = (body.get("company") or {}).get("name", "")
    page.session.notice = _("%(name)s is restored.") % {"name": name}
    await page.store.save(page.session)
    return redirect(page, BASE)


def _ids(values: list[str]) -> list[str]:
    found: list[str] = []
    for value in values:
        try:
            found.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return list(dict.fromkeys(found))[:100]  # the API takes 100 at a time


async def _names(page: Page, ids: list[str], *, deleted: bool) -> dict[str, str]:
    """The selected companies' names, from the list they were chosen in (first 100)."""
    assert page.session is not None
    path = "/api/v1/company/deleted" if deleted else "/api/v1/super-admin/company"
    body = await page.api.call(page.session, "GET", path, client=page.client, params={"per_page": 100})
    names = {str(c["id"]): str(c["name"]) for c in body.get("companies") or []}
    return {i: names.get(i, i) for i in ids}


@router.post("/bulk")
async def bulk(
    page: PageDep, company_ids: Ids = [],  # noqa: B006 - FastAPI copies defaults per request
    action: Annotated[str, Form(max_length=10)] = "", confirmed: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Delete (after a confirmation naming them) or restore the selected companies."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    assert page.session is not None
    ids, back = _ids(company_ids), f"{BASE}/deleted" if action == "restore" else BASE
    if not ids or action not in ("delete", "restore"):
        page.session.notice = _("Select at least one company first.")
        await page.store.save(page.session)
        return redirect(page, back)
    if action == "delete" and confirmed != "yes":
        names = await _names(page, ids, deleted=False)
        return await render(page, "platform_companies_bulk.html", names=names)
    method, path = ("DELETE", "bulk-delete") if action == "delete" else ("PATCH", "bulk-restore")
    body = await page.api.call(page.session, method, f"/api/v1/company/{path}", client=page.client,
                               json={"company_ids": ids})
    page.session.notice = _summary(action, body)
    await page.store.save(page.session)
    return redirect(page, f"{BASE}/deleted" if action == "delete" else BASE)


def _summary(action: str, body: dict[str, Any]) -> str:
    done = [r for r in body.get("results") or [] if r.get("result") in ("deleted", "restored")]
    skipped = len(body.get("results") or []) - len(done)
    if action == "delete":
        text = ngettext("%(num)s company deleted.", "%(num)s companies deleted.", len(done))
    else:
        text = ngettext("%(num)s company restored.", "%(num)s companies restored.", len(done))
    text = text % {"num": len(done)}
    if skipped:
        text += " " + ngettext("%(num)s was skipped (already so, or gone).",
                               "%(num)s were skipped (already so, or gone).", skipped) % {"num": skipped}
    return text
