"""Members (admins): the company's users with search and pages, adding one, a member's page with
role, suspension, forced password reset and the member's sign-in sessions (each can be signed
out). Destructive actions ask first (role=alertdialog); the API's refusals (nobody changes their
own role or status, a company keeps an active admin) are shown next to what they concern.
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
from knowrithm_console.web import N_, PREFIX, Page, admin_page, page_of, redirect, render

router = APIRouter(prefix=f"{PREFIX}/members")
PageDep = Annotated[Page, Depends(page_of)]
PER_PAGE = 20
ROLES: dict[str, str] = {"user": N_("Member"), "admin": N_("Administrator")}
STATUSES: dict[str, str] = {
    "active": N_("Active"),
    "inactive": N_("Inactive"),
    "suspended": N_("Suspended"),
    "pending_verification": N_("Waiting for e-mail confirmation"),
}
NEW_FIELDS = ("email", "username", "first_name", "last_name", "password", "role")


@router.get("")
async def members(
    page: PageDep,
    search: Annotated[str, Query(max_length=255)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """The company's users, newest first, 20 a page, searched by name, username or e-mail."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    params: dict[str, Any] = {"page": page_number, "per_page": PER_PAGE}
    if search.strip():
        params["search"] = search.strip()
    body = await page.api.call(page.session, "GET", "/api/v1/admin/user", client=page.client, params=params)
    query = {"search": search.strip()} if search.strip() else {}
    return await render(
        page,
        "members.html",
        users=body.get("users") or [],
        pagination=body.get("pagination") or {},
        search=search.strip(),
        page_number=page_number,
        roles=ROLES,
        statuses=STATUSES,
        pager=lambda n: urlencode({**query, "page": n}),
    )


@router.get("/new")
async def new_form(page: PageDep) -> Response:
    """The form that adds a member to the company."""
    if (gone := await admin_page(page)) is not None:
        return gone
    return await render(page, "member_new.html", values={"role": "user"}, errors={}, error=None, roles=ROLES)


@router.post("/new")
async def create(
    page: PageDep,
    email: Annotated[str, Form(max_length=255)] = "",
    username: Annotated[str, Form(max_length=100)] = "",
    first_name: Annotated[str, Form(max_length=200)] = "",
    last_name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=300)] = "",
    role: Annotated[str, Form(max_length=20)] = "user",
) -> Response:
    """Add the member (`POST /api/v1/auth/user`); the API mails them a verification link."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    body = {
        "email": email.strip(),
        "username": username.strip(),
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "password": password,
        "role": role,
    }
    try:
        created = await page.api.call(
            page.session, "POST", "/api/v1/auth/user", client=page.client, json=body
        )
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        errors = {k: v for k, v in exc.field_errors().items() if k in NEW_FIELDS}
        taken = exc.detail.get("field") if isinstance(exc.detail, dict) else None
        if not errors and taken in NEW_FIELDS:
            errors = {str(taken): message_of(exc)}
        values = {k: v for k, v in body.items() if k != "password"}
        return await render(
            page,
            "member_new.html",
            status=exc.status,
            values=values,
            errors=errors,
            error=None if errors else message_of(exc),
            roles=ROLES,
        )
    page.session.notice = _("%(name)s is added; they get an e-mail to confirm their address.") % {
        "name": f"{created.get('first_name', '')} {created.get('last_name', '')}".strip()
    }
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/members/{created['id']}")


async def _member_page(
    page: Page,
    user_id: uuid.UUID,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    dialog: str | None = None,
) -> Response:
    assert page.session is not None
    body = await page.api.call(page.session, "GET", f"/api/v1/admin/user/{user_id}", client=page.client)
    held = await page.api.call(
        page.session, "GET", f"/api/v1/admin/user/{user_id}/sessions", client=page.client
    )
    return await render(
        page,
        "member.html",
        status=status,
        member=body["data"],
        sessions=held.get("sessions") or [],
        roles=ROLES,
        statuses=STATUSES,
        errors=errors or {},
        dialog=dialog,
    )


@router.get("/{user_id}")
async def member(page: PageDep, user_id: uuid.UUID) -> Response:
    """A member: details, role, status, password reset and their sign-in sessions."""
    if (gone := await admin_page(page)) is not None:
        return gone
    return await _member_page(page, user_id)


async def _change(
    page: Page, user_id: uuid.UUID, *, what: str, method: str, path: str, json: Any, done: str
) -> Response:
    """Send one change; the API's refusal comes back next to `what` on the member's page."""
    assert page.session is not None
    try:
        await page.api.call(page.session, method, path, client=page.client, json=json)
    except ApiError as exc:
        if exc.status not in (400, 403, 409, 422):
            raise
        return await _member_page(page, user_id, status=exc.status, errors={what: message_of(exc)})
    page.session.notice = done
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/members/{user_id}")


@router.post("/{user_id}/role")
async def change_role(
    page: PageDep, user_id: uuid.UUID, role: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    """Change the member's role (the API signs them out: their tokens carry the role)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    label = _(ROLES.get(role, role))
    return await _change(
        page,
        user_id,
        what="role",
        method="PATCH",
        path=f"/api/v1/user/{user_id}/role",
        json={"role": role},
        done=_("Role saved: %(role)s.") % {"role": label},
    )


@router.post("/{user_id}/status")
async def change_status(
    page: PageDep,
    user_id: uuid.UUID,
    status: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """Suspend or reactivate the member (suspending signs them out everywhere)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    done = (
        _("The member is suspended and signed out everywhere.")
        if status == "suspended"
        else _("Status saved: %(status)s.") % {"status": _(STATUSES.get(status, status))}
    )
    return await _change(
        page,
        user_id,
        what="status",
        method="PATCH",
        path=f"/api/v1/user/{user_id}/status",
        json={"status": status},
        done=done,
    )


@router.post("/{user_id}/force-password-reset")
async def force_reset(page: PageDep, user_id: uuid.UUID) -> Response:
    """Make the member choose a new password: signed out, and mailed a reset link."""
    if (gone := await admin_page(page)) is not None:
        return gone
    return await _change(
        page,
        user_id,
        what="password",
        method="POST",
        path=f"/api/v1/user/{user_id}/force-password-reset",
        json=None,
        done=_("The member is signed out and must choose a new password; a reset link is on its way."),
    )


@router.post("/{user_id}/sessions/{session_id}/sign-out")
async def sign_out_session(page: PageDep, user_id: uuid.UUID, session_id: uuid.UUID) -> Response:
    """Sign one of the member's sessions out (its device must sign in again)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    return await _change(
        page,
        user_id,
        what="sessions",
        method="DELETE",
        path=f"/api/v1/admin/user/{user_id}/sessions/{session_id}",
        json=None,
        done=_("That session is signed out."),
    )


@router.get("/{user_id}/confirm/{action}")
async def confirm(page: PageDep, user_id: uuid.UUID, action: str) -> Response:
    """The confirmation of a destructive action (suspend, password reset) in the member's page."""
    if (gone := await admin_page(page)) is not None:
        return gone
    if action not in ("suspend", "reset"):
        raise ApiError(404, "not_found", _("There is no page at this address."))
    return await _member_page(page, user_id, dialog=action)
