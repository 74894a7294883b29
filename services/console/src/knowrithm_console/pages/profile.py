"""Profile: every signed-in person's own name, e-mail, time zone and language.

Read with `GET /api/v1/user/profile`, changed with `PUT /api/v1/user/profile` (the e-mail is
shown, not changed: the API's profile route does not take it). The API's refusal of a field
is shown next to that field and nothing is saved; after a change the session's copy of the
user is read again, so the header's name, the dates' time zone and the language follow.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import LANGUAGES
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.account import _user
from knowrithm_console.pages.messages import field_messages, message_of
from knowrithm_console.web import PREFIX, Page, page_of, redirect, render

router = APIRouter(prefix=PREFIX)
PageDep = Annotated[Page, Depends(page_of)]
Text = Annotated[str, Form(max_length=200)]


def _values(profile: dict[str, Any]) -> dict[str, str]:
    names = ("first_name", "last_name", "email", "timezone", "language")
    return {k: str(profile.get(k) or "") for k in names}


@router.get("/profile")
async def profile(page: PageDep) -> Response:
    """The signed-in person's profile form."""
    if page.session is None or not page.session.signed_in:
        return redirect(page, f"{PREFIX}/sign-in")
    body = await page.api.call(page.session, "GET", "/api/v1/user/profile", client=page.client)
    return await render(page, "profile.html", values=_values(body.get("user") or {}), errors={}, error=None,
                        languages=LANGUAGES)


@router.post("/profile")
async def save_profile(
    page: PageDep, first_name: Text = "", last_name: Text = "", timezone: Text = "", language: Text = "",
) -> Response:
    """Save the changes; the API's refusal shows next to the field it names, nothing half-saved."""
    if page.session is None or not page.session.signed_in:
        return redirect(page, f"{PREFIX}/sign-in")
    # The first name is always sent (blank is the API's field error); the others only when given.
    changes = {"first_name": first_name.strip()} | {
        k: v.strip() for k, v in (("last_name", last_name), ("timezone", timezone), ("language", language))
        if v.strip()}
    try:
        await page.api.call(page.session, "PUT", "/api/v1/user/profile", client=page.client, json=changes)
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        errors = field_messages(exc)
        values = {"last_name": last_name, "timezone": timezone, "language": language, **changes,
                  "email": page.session.user.email if page.session.user else ""}
        return await render(page, "profile.html", status=exc.status, values=values, errors=errors,
                            error=None if errors else message_of(exc), languages=LANGUAGES)
    me = await page.api.call(page.session, "GET", "/api/v1/auth/user/me", client=page.client)
    page.session.user = _user(me)
    page.localize()  # the notice speaks the language just chosen
    page.session.notice = _("Your profile is saved.")
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/profile")
