"""Signing in and out, the language switch, password reset, e-mail verification, session ended."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from knowrithm_console.api import ApiError, ApiUnavailable, SessionEnded, tokens_of
from knowrithm_console.i18n import LANGUAGES
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import field_messages, message_of
from knowrithm_console.sessions import User
from knowrithm_console.web import PREFIX, Page, page_of, redirect, render

logger = logging.getLogger(__name__)
router = APIRouter(prefix=PREFIX)
PageDep = Annotated[Page, Depends(page_of)]
Text = Annotated[str, Form(max_length=1000)]


def _user(me: dict[str, Any]) -> User:
    user, company = me.get("user") or {}, me.get("company") or {}
    parts = (user.get("first_name"), user.get("last_name"))
    name = " ".join(p for p in parts if p) or user.get("username", "")
    return User(
        id=str(user["id"]), email=str(user.get("email", "")), name=name, role=str(user.get("role", "user")),
        company_id=user.get("company_id"), company_name=company.get("name"),
        language=str(user.get("language") or "en"), timezone=str(user.get("timezone") or "UTC"),
    )


async def _sign_in_as(page: Page, body: dict[str, Any]) -> Response:
    """Start a new session (a new id: no fixation) holding the tokens of `body`."""
    old = page.session
    fresh = await page.store.new(language=old.language if old else None)
    fresh.tokens = tokens_of(body)
    await page.store.save(fresh)  # the call below may refresh, which reads the session from Redis
    me = await page.api.call(fresh, "GET", "/api/v1/auth/user/me", client=page.client)
    fresh.user = _user(me)
    await page.store.save(fresh)
    if old is not None:
        await page.store.delete(old)
    page.session, page.new_cookie = fresh, True
    return redirect(page, f"{PREFIX}/")


@router.get("/sign-in")
async def sign_in_form(page: PageDep) -> Response:
    """The sign-in form (signed-in people go home)."""
    if page.session is not None and page.session.signed_in:
        return redirect(page, f"{PREFIX}/")
    return await render(page, "sign_in.html", email="", errors={}, error=None)


@router.post("/sign-in")
async def sign_in(page: PageDep, email: Text = "", password: Text = "") -> Response:
    """E-mail and password to the auth API; its refusal is shown next to the field it concerns."""
    try:
        body = await page.api.public(
            "POST", "/api/v1/auth/login", client=page.client, json={"email": email, "password": password}
        )
        return await _sign_in_as(page, body)
    except ApiError as exc:
        errors = field_messages(exc)
        error = None
        if exc.code == "invalid_credentials":
            errors["password"] = message_of(exc)
        elif not errors:
            error = message_of(exc)
        return await render(page, "sign_in.html", status=exc.status, email=email, errors=errors, error=error)


@router.post("/sign-out")
async def sign_out(page: PageDep) -> Response:
    """Revoke the tokens at auth and forget the session."""
    session = page.session
    if session is not None and session.impersonation is not None:
        session.end_impersonation()  # sign out the super admin's own session (the acting token lapses)
    if session is not None and session.signed_in and session.tokens is not None:
        try:
            await page.api.call(session, "POST", "/api/v1/auth/logout", client=page.client,
                                json={"refresh_token": session.tokens.refresh_token})
        except (ApiError, SessionEnded):
            pass  # already signed out at auth: forgetting the session is all that is left
        except ApiUnavailable:
            # The tokens die with the session record (nothing else holds them); auth lets the
            # access token run out and the refresh token is never presented again.
            logger.warning("auth unreachable at sign-out; the session is forgotten all the same")
        await page.store.delete(session)
    page.session = await page.store.new(language=session.language if session else None,
                                        notice=_("You are signed out."))
    page.new_cookie = True
    return redirect(page, f"{PREFIX}/sign-in")


@router.get("/session-ended")
async def session_ended(page: PageDep) -> Response:
    """Where a session whose tokens stopped working lands."""
    return await render(page, "session_ended.html")


@router.post("/language")
async def choose_language(page: PageDep, language: Text = "", back: Text = "") -> Response:
    """Remember the chosen language in the session and return to the page it was chosen on."""
    session = await page.ensure_session()
    if language in LANGUAGES:
        session.language = language
        await page.store.save(session)
    target = back if back.startswith(f"{PREFIX}/") and "//" not in back and "\\" not in back else f"{PREFIX}/"
    return redirect(page, target)


@router.get("/forgot-password")
async def forgot_form(page: PageDep) -> Response:
    """Ask for a password-reset mail."""
    return await render(page, "forgot.html", email="", errors={}, error=None, sent=False)


@router.post("/forgot-password")
async def forgot(page: PageDep, email: Text = "") -> Response:
    """The same answer whether or not an account has this address (the API's rule)."""
    try:
        await page.api.public(
            "POST", "/api/v1/auth/forgot-password", client=page.client, json={"email": email}
        )
    except ApiError as exc:
        errors = field_messages(exc)
        return await render(page, "forgot.html", status=exc.status, email=email, errors=errors,
                            error=None if errors else message_of(exc), sent=False)
    return await render(page, "forgot.html", email=email, errors={}, error=None, sent=True)


@router.get("/reset-password")
async def reset_form(page: PageDep, token: str = "") -> Response:
    """Choose a new password with the mailed token."""
    return await render(page, "reset.html", token=token[:200], errors={}, error=None)


@router.post("/reset-password")
async def reset(
    page: PageDep, token: Text = "", new_password: Text = "", confirm_password: Text = ""
) -> Response:
    """Set the new password; every session of the account ends, so the person signs in again."""
    if new_password != confirm_password:
        errors = {"confirm_password": _("The two passwords differ.")}
        return await render(page, "reset.html", status=400, token=token, errors=errors, error=None)
    try:
        await page.api.public("POST", "/api/v1/auth/reset-password", client=page.client,
                              json={"token": token, "new_password": new_password})
    except ApiError as exc:
        errors = field_messages(exc)
        return await render(page, "reset.html", status=exc.status, token=token, errors=errors,
                            error=None if errors else message_of(exc))
    session = await page.ensure_session()
    session.notice = _("Your password is changed. Sign in with the new one.")
    await page.store.save(session)
    return redirect(page, f"{PREFIX}/sign-in")


@router.get("/verify")
async def verify_form(page: PageDep, token: str = "") -> Response:
    """Confirm the address with a button: mail scanners that open links must not verify it."""
    return await render(page, "verify.html", token=token[:200], error=None, verified=False)


@router.post("/verify")
async def verify(page: PageDep, token: Text = "") -> Response:
    """The mailed token to the API."""
    try:
        await page.api.public("POST", "/api/v1/verify", client=page.client, json={"token": token})
    except ApiError as exc:
        return await render(page, "verify.html", status=exc.status, token=token, error=message_of(exc),
                            verified=False)
    return await render(page, "verify.html", token="", error=None, verified=True)
