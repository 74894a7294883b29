"""API keys (admins): the signed-in admin's keys, a new key whose secret is shown once, a key's
usage, and revocation with a confirmation.

The secret is in exactly one response: the one answering the creation. It is never stored in
the console's session; each creation form carries a one-time id (kept in Redis, hashed, for a
day) so a browser re-sending the form after a reload creates no second key and shows nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from knowrithm_common.identity import SCOPES
from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of
from knowrithm_console.sessions import new_secret
from knowrithm_console.web import N_, PREFIX, Page, admin_page, page_of, redirect, render

router = APIRouter(prefix=f"{PREFIX}/api-keys")
PageDep = Annotated[Page, Depends(page_of)]
FORM_KEY = "console:api-key-form:"
USAGE_DAYS = 30

# What each scope lets a key do (msgids; translated where shown).
SCOPE_HINTS: dict[str, str] = {
    "read": N_("read the company's data"),
    "write": N_("create, change and delete"),
    "update": N_("change only"),
    "delete": N_("delete only"),
    "admin": N_("everything, administration included"),
    "full_access": N_("everything"),
}
STATUS_LABELS: dict[str, str] = {"active": N_("Active"), "expired": N_("Expired"), "revoked": N_("Revoked")}
NUMBERS = {"expires_in_days": "", "rate_limit_per_hour": "", "rate_limit_per_day": ""}


async def _keys(page: Page) -> list[dict[str, Any]]:
    assert page.session is not None
    body = await page.api.call(page.session, "GET", "/api/v1/auth/api-keys", client=page.client)
    keys: list[dict[str, Any]] = body.get("api_keys") or []
    return keys


async def _list(page: Page, *, status: int = 200, **context: Any) -> Response:
    context.setdefault("values", {"name": "", "scopes": ["read"], **NUMBERS})
    context.setdefault("errors", {})
    return await render(
        page,
        "api_keys.html",
        status=status,
        keys=await _keys(page),
        scopes=SCOPES,
        scope_hints=SCOPE_HINTS,
        statuses=STATUS_LABELS,
        form_id=new_secret(),
        **context,
    )


@router.get("")
async def api_keys(page: PageDep) -> Response:
    """The admin's API keys (never their secrets) and the form for a new one."""
    if (gone := await admin_page(page)) is not None:
        return gone
    return await _list(page)


def _body(name: str, scopes: list[str], numbers: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The API's body from the form, or the fields a person must fix first."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"name": name.strip(), "scopes": [s for s in scopes if s in SCOPES]}
    if not body["name"]:
        errors["name"] = _("Give the key a name.")
    if not body["scopes"]:
        errors["scopes"] = _("Choose at least one scope.")
    for field_name, raw in numbers.items():
        text = raw.strip()
        if text:
            if not (text.isascii() and text.isdigit()):  # "²".isdigit() is true, int("²") fails
                errors[field_name] = _("Enter a whole number.")
            else:
                body[field_name] = int(text)
    return body, errors


async def _first_use(page: Page, form_id: str) -> bool:
    """Whether this creation form is sent for the first time (a re-sent form creates nothing)."""
    key = FORM_KEY + hashlib.sha256(form_id.encode()).hexdigest()
    return bool(await page.request.app.state.redis.set(key, 1, nx=True, ex=86_400))


@router.post("")
async def create(
    page: PageDep,
    name: Annotated[str, Form(max_length=100)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires_in_days: Annotated[str, Form(max_length=12)] = "",
    rate_limit_per_hour: Annotated[str, Form(max_length=12)] = "",
    rate_limit_per_day: Annotated[str, Form(max_length=12)] = "",
    form_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Create a key; the answer (this response only) shows its key and secret once."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    numbers = {
        "expires_in_days": expires_in_days,
        "rate_limit_per_hour": rate_limit_per_hour,
        "rate_limit_per_day": rate_limit_per_day,
    }
    body, errors = _body(name, scopes or [], numbers)
    values = {"name": name, "scopes": scopes or [], **numbers}
    if errors:
        return await _list(page, status=422, values=values, errors=errors)
    if not form_id or not await _first_use(page, form_id):
        page.session.notice = _(
            "This form was already sent: its key exists and its secret is not shown again."
        )
        await page.store.save(page.session)
        return redirect(page, f"{PREFIX}/api-keys")
    try:
        created = await page.api.call(
            page.session, "POST", "/api/v1/auth/api-keys", client=page.client, json=body
        )
    except ApiError as exc:
        if exc.status not in (400, 403, 422):
            raise
        fields = {k: v for k, v in exc.field_errors().items() if k in (*numbers, "name", "scopes")}
        return await _list(
            page, status=422, values=values, errors=fields, error=None if fields else message_of(exc)
        )
    return await _list(page, created=created)


async def _usage(page: Page, key_id: uuid.UUID) -> dict[str, Any]:
    assert page.session is not None
    body = await page.api.call(
        page.session,
        "GET",
        f"/api/v1/detailed-usage/{key_id}",
        client=page.client,
        params={"days": USAGE_DAYS},
    )
    data: dict[str, Any] = body.get("data") or {}
    return data


@router.get("/{key_id}")
async def usage(page: PageDep, key_id: uuid.UUID) -> Response:
    """One key: its settings and its use over the last 30 days, by day and by endpoint."""
    if (gone := await admin_page(page)) is not None:
        return gone
    data = await _usage(page, key_id)
    key = next((k for k in await _keys(page) if k["id"] == str(key_id)), None)
    return await render(
        page,
        "api_key.html",
        usage=data,
        key=key,
        summary=data.get("api_key") or {},
        statuses=STATUS_LABELS,
        days=USAGE_DAYS,
    )


@router.get("/{key_id}/revoke")
async def revoke_form(page: PageDep, key_id: uuid.UUID) -> Response:
    """The revocation's confirmation (htmx brings it into the key's page; else as a page)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    key = next((k for k in await _keys(page) if k["id"] == str(key_id)), None)
    if key is None:
        raise ApiError(404, "api_key_not_found", _("There is no such API key (or it is revoked)."))
    template = "_api_key_revoke.html" if page.htmx else "api_key_revoke.html"
    return await render(page, template, key=key)


@router.post("/{key_id}/revoke")
async def revoke(page: PageDep, key_id: uuid.UUID) -> Response:
    """Revoke the key: the gateway refuses it from the next request on."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    body = await page.api.call(page.session, "DELETE", f"/api/v1/auth/api-keys/{key_id}", client=page.client)
    name = (body.get("api_key") or {}).get("name") or str(key_id)
    page.session.notice = _("The key “%(name)s” is revoked: it no longer works.") % {"name": name}
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/api-keys")
