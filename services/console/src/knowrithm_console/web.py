"""What every page shares: the request's session, client and language; rendering; redirects."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from knowrithm_console import i18n
from knowrithm_console.api import Api, ApiError, Client
from knowrithm_console.security import CSRF_FIELD, is_https
from knowrithm_console.sessions import COOKIE, COOKIE_PATH, Session, SessionStore

PREFIX = "/console"
HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
CLIENT_IP_HEADER = "x-knowrithm-client-ip"  # the browser's address as the gateway decided it


@dataclass(frozen=True, slots=True)
class NavItem:
    path: str
    label: str  # a msgid: translated when rendered
    admin_only: bool = False  # shown to company admins (and super admins) only
    super_admin_only: bool = False  # shown to the platform's super admins only
    section: str = "main"  # which navigation it is listed in: see NAV_SECTIONS


def N_(message: str) -> str:  # gettext's name for "mark for extraction only"
    """Mark `message` for the catalogue; it is translated where it is shown."""
    return message


# The header's navigations, in order, each with its accessible name (a msgid): the company's
# daily work, its administration (admins), the platform's (super admins).
NAV_SECTIONS: dict[str, str] = {
    "main": N_("Main"), "admin": N_("Administration"), "platform": N_("Platform"),
}

# Only screens that exist are listed; each later screen adds its line here.
NAV: tuple[NavItem, ...] = (
    NavItem(f"{PREFIX}/", N_("Home")),
    NavItem(f"{PREFIX}/agents", N_("Agents")),
    NavItem(f"{PREFIX}/knowledge", N_("Knowledge")),
    NavItem(f"{PREFIX}/playground", N_("Playground")),
    NavItem(f"{PREFIX}/conversations", N_("Conversations")),
    NavItem(f"{PREFIX}/leads", N_("Leads"), admin_only=True),
    # the company's administration (admins)
    NavItem(f"{PREFIX}/analytics", N_("Analytics"), admin_only=True, section="admin"),
    NavItem(f"{PREFIX}/knowledge-gaps", N_("Knowledge gaps"), admin_only=True, section="admin"),
    NavItem(f"{PREFIX}/members", N_("Members"), admin_only=True, section="admin"),
    NavItem(f"{PREFIX}/api-keys", N_("API keys"), admin_only=True, section="admin"),
    NavItem(f"{PREFIX}/webhooks", N_("Webhooks"), admin_only=True, section="admin"),
    NavItem(f"{PREFIX}/events", N_("Live events"), admin_only=True, section="admin"),
    NavItem(f"{PREFIX}/audit", N_("Audit log"), admin_only=True, section="admin"),
    NavItem(f"{PREFIX}/company", N_("Company"), admin_only=True, section="admin"),
    # the platform's own screens (super admins)
    NavItem(f"{PREFIX}/platform/companies", N_("Companies"), super_admin_only=True, section="platform"),
    NavItem(f"{PREFIX}/platform/users", N_("Users"), super_admin_only=True, section="platform"),
    NavItem(f"{PREFIX}/platform/providers", N_("Providers and models"), super_admin_only=True,
            section="platform"),
    NavItem(f"{PREFIX}/platform/config", N_("Configuration"), super_admin_only=True, section="platform"),
    NavItem(f"{PREFIX}/platform/health", N_("Platform health"), super_admin_only=True, section="platform"),
    NavItem(f"{PREFIX}/platform/metrics", N_("System metrics"), super_admin_only=True, section="platform"),
)


def nav_for(session: Session) -> tuple[NavItem, ...]:
    """The navigation the session's user may use: admin-only screens are absent for plain users."""
    if not session.signed_in:
        return ()
    user = session.user
    admin = user is not None and user.is_admin
    super_admin = user is not None and user.is_super_admin
    return tuple(
        item for item in NAV
        if (admin or not item.admin_only) and (super_admin or not item.super_admin_only)
    )


def nav_sections(items: tuple[NavItem, ...]) -> list[tuple[str, str, list[NavItem]]]:
    """The navigation grouped as the header shows it: (section, its name, its items), none empty."""
    return [
        (key, name, [item for item in items if item.section == key])
        for key, name in NAV_SECTIONS.items()
        if any(item.section == key for item in items)
    ]


@cache
def _static_version(name: str) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """A static file's URL, versioned by its content (so it can be cached for a year)."""
    return f"{PREFIX}/static/{name}?v={_static_version(name)}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True, lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.globals.update(static=static_url, PREFIX=PREFIX, CSRF_FIELD=CSRF_FIELD, LANGUAGES=i18n.LANGUAGES)
    return env


TEMPLATES = _environment()


@dataclass(slots=True)
class Page:
    """One request as the pages see it."""

    request: Request
    session: Session | None
    client: Client
    l10n: i18n.Localization
    new_cookie: bool = field(default=False)

    @property
    def store(self) -> SessionStore:
        store: SessionStore = self.request.app.state.sessions
        return store

    @property
    def api(self) -> Api:
        api: Api = self.request.app.state.api
        return api

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    async def ensure_session(self) -> Session:
        """The session, a new signed-out one when there is none (its forms need a CSRF token)."""
        if self.session is None:
            self.session = await self.store.new()
            self.new_cookie = True
        return self.session

    def localize(self) -> None:
        """Pick the language and time zone from the session, the profile and the browser."""
        session, user = self.session, self.session.user if self.session else None
        language = (
            (session.language if session else None)
            or (user.language if user and user.language in i18n.LANGUAGES else None)
            or i18n.negotiate(self.request.headers.get("accept-language"))
            or i18n.DEFAULT
        )
        self.l10n = i18n.Localization(language, user.timezone if user else "UTC")
        i18n.current.set(self.l10n)


def client_of(request: Request) -> Client:
    ip = request.headers.get(CLIENT_IP_HEADER) or (request.client.host if request.client else "")
    return Client(ip=ip, user_agent=request.headers.get("user-agent", "")[:512])


async def page_of(request: Request) -> Page:
    """The dependency every page takes."""
    session = getattr(request.state, "session", None)  # loaded by the CSRF check already
    if session is None:
        store: SessionStore = request.app.state.sessions
        session = await store.get(request.cookies.get(COOKIE))
        if session is not None:
            await store.touch(session)
    page = Page(request, session, client_of(request), i18n.current.get())
    page.localize()
    if session is not None and session.impersonation_over:
        await end_impersonation(page, why="expired")
    return page


async def end_impersonation(page: Page, *, why: str) -> None:
    """Back to the super admin's own session (saved), with a notice saying why: `stopped` by them,
    `expired` (the acting token ran out: it is never refreshed) or `refused` (auth stopped
    accepting it, e.g. revoked)."""
    session = page.session
    if session is None or session.impersonation is None:
        return
    name = session.user.name if session.user else ""
    session.end_impersonation()
    page.localize()
    messages = {
        "stopped": i18n.gettext("You no longer act as %(name)s. You are back in your own session."),
        "expired": i18n.gettext("Acting as %(name)s has ended: its time ran out. "
                                "You are back in your own session."),
        "refused": i18n.gettext("Acting as %(name)s has ended: it is no longer accepted. "
                                "You are back in your own session."),
    }
    message = messages[why]
    session.notice = message % {"name": name}
    await page.store.save(session)


def set_cookie(page: Page, response: Response) -> None:
    """Send the session cookie when the session is new (HttpOnly, SameSite=Strict, Secure on https)."""
    if page.new_cookie and page.session is not None:
        response.set_cookie(
            COOKIE, page.session.id, path=COOKIE_PATH, httponly=True, samesite="strict",
            secure=is_https(page.request.scope),
        )


async def render(page: Page, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A page: the template with the layout's context; a pending notice is shown once."""
    session = await page.ensure_session()
    notice = session.notice
    if notice is not None:
        session.notice = None
        await page.store.save(session)
    html = TEMPLATES.get_template(template).render(
        l10n=page.l10n, csrf=session.csrf, user=session.user if session.signed_in else None,
        nav=nav_sections(nav_for(session)), path=page.request.url.path, notice=notice,
        acting=_acting(session), **context,
    )
    response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
    set_cookie(page, response)
    return response


def _acting(session: Session) -> dict[str, Any] | None:
    """What the impersonation banner shows: who, of which company, until when (None: not acting)."""
    if session.impersonation is None or session.user is None or session.tokens is None:
        return None
    ends = dt.datetime.fromtimestamp(session.tokens.expires_at, dt.UTC)
    return {"name": session.user.name, "company": session.user.company_name, "ends_at": ends}


async def admin_page(page: Page) -> Response | None:
    """None when the session's user is an admin; else where to go (sign-in), or a 403 page."""
    if page.session is None or not page.session.signed_in or page.session.user is None:
        return redirect(page, f"{PREFIX}/sign-in")
    if not page.session.user.is_admin:
        raise ApiError(403, "admins_only",
                       i18n.gettext("This part of the console is for your company's administrators."))
    return None


async def super_admin_page(page: Page) -> Response | None:
    """None when the session's user is a super admin; else where to go (sign-in), or a 403 page."""
    if page.session is None or not page.session.signed_in or page.session.user is None:
        return redirect(page, f"{PREFIX}/sign-in")
    if not page.session.user.is_super_admin:
        raise ApiError(403, "super_admins_only",
                       i18n.gettext("This part of the console is for the platform's administrators."))
    return None


def redirect(page: Page, path: str) -> Response:
    """Go to `path` (303 after a form; htmx requests get HX-Redirect so the whole page changes)."""
    response: Response
    if page.htmx:
        response = Response(status_code=204, headers={"HX-Redirect": path})
    else:
        response = RedirectResponse(path, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    set_cookie(page, response)
    return response
