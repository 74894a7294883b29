"""Users across companies and impersonation (super admins).

`/platform/users` lists one company's users (`GET /super-admin/company/{id}/user`) with their
role and status, each with an Impersonate button. Impersonating asks auth for a short access
token acting as the user (`POST /user/{id}/impersonate`: 15 minutes by default, audited as
`user.impersonated`, no refresh token). The session then holds that token and the user as
`/auth/user/me` gives them, while the super admin's own user and tokens wait aside in the same
session (`Session.impersonation`). Every page shows the banner (templates/_acting_banner.html).
Stop revokes the acting token at auth (`POST /auth/logout`) and puts the own session back; once
the token runs out (or auth refuses it) the console puts it back on its own, with a notice
(`web.end_impersonation`): the acting token is never refreshed.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from knowrithm_console.api import ApiError, ApiUnavailable, ImpersonationEnded, SessionEnded
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.account import _user as user_of
from knowrithm_console.sessions import Impersonation, Tokens
from knowrithm_console.web import (
    N_,
    PREFIX,
    Page,
    end_impersonation,
    page_of,
    redirect,
    render,
    super_admin_page,
)

router = APIRouter(prefix=PREFIX)
PageDep = Annotated[Page, Depends(page_of)]
PER_PAGE = 50
ROLES = {"super_admin": N_("Super admin"), "admin": N_("Admin"), "user": N_("Member")}
STATUSES = {"active": N_("Active"), "inactive": N_("Inactive"), "suspended": N_("Suspended"),
            "pending_verification": N_("Waiting for e-mail verification")}


async def _companies(page: Page) -> list[dict[str, Any]]:
    assert page.session is not None
    body = await page.api.call(page.session, "GET", "/api/v1/super-admin/company", client=page.client,
                               params={"per_page": 100})
    return sorted(body.get("companies") or [], key=lambda c: str(c.get("name", "")).lower())


@router.get("/platform/users")
async def users(
    page: PageDep, company_id: uuid.UUID | None = None,
    number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """One company's users with their role and status, and an Impersonate button each."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    assert page.session is not None
    companies = await _companies(page)
    chosen = str(company_id) if company_id else (str(companies[0]["id"]) if companies else "")
    people: list[dict[str, Any]] = []
    pagination: dict[str, Any] = {}
    if chosen:
        body = await page.api.call(page.session, "GET", f"/api/v1/super-admin/company/{chosen}/user",
                                   client=page.client, params={"page": number, "per_page": PER_PAGE})
        people, pagination = body.get("users") or [], body.get("pagination") or {}
    names = {str(c["id"]): str(c["name"]) for c in companies}
    return await render(page, "platform_users.html", companies=companies, chosen=chosen,
                        company_name=names.get(chosen, chosen), people=people, pagination=pagination,
                        number=number, roles=ROLES, statuses=STATUSES,
                        query=lambda n: urlencode({"company_id": chosen, "page": n}))


@router.post("/platform/users/{user_id}/impersonate")
async def impersonate(page: PageDep, user_id: uuid.UUID) -> Response:
    """Act as the user: their token in the session, the super admin's own set aside."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    session = page.session
    assert session is not None and session.user is not None and session.tokens is not None
    body = await page.api.call(session, "POST", f"/api/v1/user/{user_id}/impersonate", client=page.client)
    session.impersonation = Impersonation(user=session.user, tokens=session.tokens)
    session.tokens = Tokens(access_token=str(body["access_token"]), refresh_token=None,
                            expires_at=time.time() + float(body.get("expires_in", 0)))
    try:
        me = await page.api.call(session, "GET", "/api/v1/auth/user/me", client=page.client)
        session.user = user_of(me)
    except (ApiError, ImpersonationEnded):
        session.end_impersonation()
        raise
    session.notice = _("You now act as %(name)s. Everything you do is recorded as done by you for them.") % {
        "name": session.user.name}
    await page.store.save(session)
    return redirect(page, f"{PREFIX}/")


@router.post("/impersonation/stop")
async def stop(page: PageDep) -> Response:
    """Stop acting as someone: their token is revoked at auth, the own session comes back."""
    session = page.session
    if session is None or session.impersonation is None:
        return redirect(page, f"{PREFIX}/")
    company_id = session.user.company_id if session.user else None
    try:
        await page.api.call(session, "POST", "/api/v1/auth/logout", client=page.client, json={})
    except (ApiError, ApiUnavailable, ImpersonationEnded, SessionEnded):
        pass  # refused or run out already: the token is dropped with the impersonation all the same
    await end_impersonation(page, why="stopped")
    target = f"{PREFIX}/platform/users" + (f"?company_id={company_id}" if company_id else "")
    return redirect(page, target)
