"""The platform's companies (super admins): list and search, create, edit, delete and restore.

Everything goes through the public API with the super admin's own token: `GET
/super-admin/company` (with `search`), `POST /company`, `GET /company?company_id=` and `PATCH
/company/{id}`. Deleting shows what auth holds of the company first (`GET
/company/{id}/related-data`) and asks for the company's name typed out; then `DELETE
/company/{id}` (the company alone) or `DELETE /company/{id}/cascade-delete` (with its users and
addresses, its API keys revoked). Deleted companies are listed (`GET /company/deleted`) and
restored one by one or in bulk (`pages/companies_bulk.py`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import Response

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of
from knowrithm_console.web import PREFIX, Page, page_of, redirect, render, super_admin_page

BASE = f"{PREFIX}/platform/companies"
router = APIRouter(prefix=BASE)
PageDep = Annotated[Page, Depends(page_of)]
Text = Annotated[str, Form(max_length=1000)]
PER_PAGE = 10
FIELDS = ("name", "email", "phone")


def list_query(search: str, page: int) -> str:
    """A list's query string."""
    return urlencode({**({"search": search} if search else {}), "page": page})


async def catalogue(page: Page, path: str, search: str, number: int) -> dict[str, Any]:
    """One page of companies from `path` (live or deleted), narrowed by `search`."""
    assert page.session is not None
    params: dict[str, Any] = {"page": number, "per_page": PER_PAGE}
    if search:
        params["search"] = search
    return await page.api.call(page.session, "GET", path, client=page.client, params=params)


@router.get("")
async def companies(
    page: PageDep, search: Annotated[str, Query(max_length=255)] = "",
    number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """Every live company, newest first, 10 a page, searched by name or e-mail."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    search = search.strip()
    body = await catalogue(page, "/api/v1/super-admin/company", search, number)
    return await render(page, "platform_companies.html", companies=body.get("companies") or [],
                        pagination=body.get("pagination") or {}, search=search, number=number,
                        query=list_query, deleted=False)


def _form_errors(exc: ApiError) -> tuple[dict[str, str], str | None]:
    """The API's refusal by field (a taken e-mail at the e-mail), else for the whole form."""
    errors: dict[str, str] = {}
    for item in exc.detail if isinstance(exc.detail, list) else []:
        # auth reads company bodies itself: `loc` is ["email"] there, ["body", "email"] elsewhere
        loc = [str(part) for part in item.get("loc") or []] if isinstance(item, dict) else []
        named = [part for part in loc if part in FIELDS]
        if named:
            errors.setdefault(named[0], str(item.get("msg", "")))
    if exc.status == 409:
        errors.setdefault("email", message_of(exc))
    return errors, None if errors else message_of(exc)


def _body(name: str, email: str, phone: str) -> dict[str, Any]:
    return {"name": name.strip(), "email": email.strip(), "phone": phone.strip() or None}


@router.get("/new")
async def new_form(page: PageDep) -> Response:
    """The form for a new company."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    return await render(page, "platform_company_form.html", company=None, values={}, errors={}, error=None)


@router.post("/new")
async def create(page: PageDep, name: Text = "", email: Text = "", phone: Text = "") -> Response:
    """Create a company (`POST /company`); the API's refusal lands next to its field."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    assert page.session is not None
    values = _body(name, email, phone)
    try:
        created = await page.api.call(page.session, "POST", "/api/v1/company", client=page.client,
                                      json=values)
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        errors, error = _form_errors(exc)
        return await render(page, "platform_company_form.html", status=exc.status, company=None,
                            values=values, errors=errors, error=error)
    page.session.notice = _("Company created: %(name)s.") % {"name": created.get("name", values["name"])}
    await page.store.save(page.session)
    return redirect(page, f"{BASE}?{list_query(str(created.get('name', '')), 1)}")


async def company_of(page: Page, company_id: uuid.UUID) -> dict[str, Any]:
    """One live company (the API's 404 for an unknown or deleted one)."""
    assert page.session is not None
    return await page.api.call(page.session, "GET", "/api/v1/company", client=page.client,
                               params={"company_id": str(company_id)})


@router.get("/{company_id}")
async def edit_form(page: PageDep, company_id: uuid.UUID) -> Response:
    """A company's editable fields."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    company = await company_of(page, company_id)
    return await render(page, "platform_company_form.html", company=company, values=company, errors={},
                        error=None)


@router.post("/{company_id}")
async def update(
    page: PageDep, company_id: uuid.UUID, name: Text = "", email: Text = "", phone: Text = ""
) -> Response:
    """Change a company's name, e-mail and phone (`PATCH /company/{id}`)."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    assert page.session is not None
    values = _body(name, email, phone)
    try:
        await page.api.call(page.session, "PATCH", f"/api/v1/company/{company_id}", client=page.client,
                            json=values)
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        errors, error = _form_errors(exc)
        company = await company_of(page, company_id)
        return await render(page, "platform_company_form.html", status=exc.status, company=company,
                            values=values, errors=errors, error=error)
    page.session.notice = _("Company saved: %(name)s.") % {"name": values["name"]}
    await page.store.save(page.session)
    return redirect(page, BASE)


async def _related(page: Page, company_id: uuid.UUID) -> dict[str, Any]:
    assert page.session is not None
    return await page.api.call(page.session, "GET", f"/api/v1/company/{company_id}/related-data",
                               client=page.client)


@router.get("/{company_id}/delete")
async def delete_form(page: PageDep, company_id: uuid.UUID) -> Response:
    """What deleting the company touches, the choice of soft or cascade delete, and a typed confirmation."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    return await render(page, "platform_company_delete.html", related=await _related(page, company_id),
                        mode="soft", errors={})


@router.post("/{company_id}/delete")
async def delete(
    page: PageDep, company_id: uuid.UUID, confirm: Text = "",
    mode: Annotated[str, Form(max_length=10)] = "soft",
) -> Response:
    """Soft-delete the company, or cascade-delete it with its related data, once its name is typed."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    assert page.session is not None
    related = await _related(page, company_id)
    mode = mode if mode in ("soft", "cascade") else "soft"
    if confirm.strip() != related["name"]:
        error = _("Type the company's name exactly: %(name)s.") % {"name": related["name"]}
        return await render(page, "platform_company_delete.html", status=422, related=related, mode=mode,
                            errors={"confirm": error})
    path = f"/api/v1/company/{company_id}" + ("/cascade-delete" if mode == "cascade" else "")
    await page.api.call(page.session, "DELETE", path, client=page.client)
    page.session.notice = (
        _("%(name)s is deleted with its users and addresses; its API keys are revoked. Restore it here.")
        if mode == "cascade" else _("%(name)s is deleted. Restore it here.")
    ) % {"name": related["name"]}
    await page.store.save(page.session)
    return redirect(page, f"{BASE}/deleted")
