"""Absolute URLs of the platform as clients reach it, for links handed back in responses.

`BASE_URL` (the public gateway URL) when it is set, as every deployment should. When it is
not, the origin the gateway was called at: the gateway forwards the client's `Host` as
`X-Forwarded-Host` and its scheme as `X-Forwarded-Proto` (or passes on those a trusted proxy
in front of it set), so a link works for whoever asked, through whatever name they used.
A value that is not a plain `scheme://host[:port]` is ignored (the request's own URL is used).
"""

from __future__ import annotations

import re

from starlette.requests import Request

_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


def _first(value: str | None) -> str:
    # A proxy chain lists values "client-facing, next, ..."; the first is what the client used.
    return (value or "").split(",", 1)[0].strip()


def public_base(request: Request, base_url: str) -> str:
    """The platform's public origin: `base_url` (BASE_URL), else the one this request came in at."""
    if base_url.strip():
        return base_url.strip().rstrip("/")
    host = _first(request.headers.get("x-forwarded-host")) or _first(request.headers.get("host"))
    scheme = _first(request.headers.get("x-forwarded-proto")).lower() or request.url.scheme
    if not _HOST.fullmatch(host) or scheme not in ("http", "https"):
        return str(request.base_url).rstrip("/")
    return f"{scheme}://{host}"


def public_url(request: Request, base_url: str, path: str) -> str:
    """`path` (starting with /) as an absolute URL clients can open as is."""
    return public_base(request, base_url) + path
