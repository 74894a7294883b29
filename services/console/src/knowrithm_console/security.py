"""Security headers on every answer, and the CSRF check of every unsafe request.

The policy allows only the console's own scripts, styles, images and connections: no inline
script or style anywhere (htmx's indicator styles are switched off in the base template's
`htmx-config`, its eval too), no framing, no `<base>`, forms posting only to the console.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from knowrithm_console.sessions import COOKIE, SessionStore

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def is_https(scope: Scope) -> bool:
    """Whether the browser reached us over https (the gateway says so in X-Forwarded-Proto)."""
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-proto":
            return value.split(b",")[0].strip() == b"https"
    return scope.get("scheme") == "https"


class SecurityHeaders:
    """Adds the headers above to every HTTP answer (HSTS only over https)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = HEADERS + ((HSTS,) if is_https(scope) else ())

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                message["headers"] = [
                    *message.get("headers", ()), *(h for h in extra if h[0] not in present)
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


class CsrfRefused(Exception):
    """An unsafe request without the session's form token."""


async def csrf_guard(request: Request) -> None:
    """Every POST/PUT/PATCH/DELETE carries its session's token (form field or htmx header)."""
    if request.method not in UNSAFE_METHODS:
        return
    store: SessionStore = request.app.state.sessions
    session = await store.get(request.cookies.get(COOKIE))
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if session is None or not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise CsrfRefused()
    request.state.session = session
