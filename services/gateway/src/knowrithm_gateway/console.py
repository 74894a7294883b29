"""The web console under `/console`: passed through to the console process as it is.

The console is not an API operation: it does its own session sign-in (a cookie), so the
gateway neither verifies credentials for it nor counts its pages as API usage or against the
API's rate limits. The console calls the API back through this gateway with the signed-in
user's own token, and there every policy, limit and audit record applies. What the gateway
adds on the way in is the browser's address as it decided it (`x-knowrithm-client-ip`,
honouring GATEWAY_TRUSTED_PROXIES), which the console forwards on its API calls as
`X-Forwarded-For`; the gateway trusts the console's own address as a proxy for that.

Mails carry links at the gateway's root (`/verify?token=…`, `/reset-password?token=…`, built
by auth from BASE_URL): those answer with a redirect to the console's pages.
"""

from __future__ import annotations

import html
import logging
import time

import aiohttp
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.types import Receive, Scope, Send
from yarl import URL

from knowrithm_common.errors import KnowrithmError, PayloadTooLarge
from knowrithm_common.identity import ASSERTION_HEADER
from knowrithm_gateway.headers import read_incoming, response_headers, upstream_headers
from knowrithm_gateway.metrics import observe_request
from knowrithm_gateway.proxy import CLIENT_CLOSED, _Body, _ClientGone, _payload, _pump, _upstream_error
from knowrithm_gateway.runtime import GatewayRuntime
from knowrithm_gateway.upstream import send_upstream

logger = logging.getLogger(__name__)

CONSOLE = "console"
PREFIX = "/console"
MAIL_LINKS = {"/verify": f"{PREFIX}/verify", "/reset-password": f"{PREFIX}/reset-password"}


def is_console(path: str) -> bool:
    """Whether the console answers this path (its pages, or a mailed link to one)."""
    return path == PREFIX or path.startswith(PREFIX + "/") or path in MAIL_LINKS


class ConsoleProxy:
    """Streams `/console/*` to the console process and its answer back."""

    def __init__(self, runtime: GatewayRuntime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self._limit = settings.max_body_bytes
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout_seconds,
            sock_read=settings.upstream_timeout_seconds,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        status = CLIENT_CLOSED
        try:
            status = await self._dispatch(scope, receive, send)
        except KnowrithmError as exc:
            status = exc.status_code
            await _error_page(exc, scope, receive, send)
        except Exception:
            logger.exception("console pass-through failed on %s %s", scope["method"], scope["path"])
            status = 500
            await _error_page(KnowrithmError(), scope, receive, send)
        finally:
            observe_request(route=PREFIX, method=scope["method"], status=status,
                            seconds=time.perf_counter() - start)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> int:
        path = scope["path"]
        if path == PREFIX or path in MAIL_LINKS:
            target = MAIL_LINKS.get(path, PREFIX + "/")
            query = scope.get("query_string", b"").decode("latin-1")
            status = 308 if path == PREFIX else 303
            await RedirectResponse(target + (f"?{query}" if query else ""), status_code=status)(
                scope, receive, send
            )
            return status
        incoming = read_incoming(scope)
        if incoming.content_length is not None and incoming.content_length > self._limit:
            raise PayloadTooLarge(detail={"max_bytes": self._limit})
        client_ip = self.runtime.addresses.of(scope, incoming.forwarded_for)
        # No identity assertion: the console is no API service and takes none.
        headers = [
            (name, value)
            for name, value in upstream_headers(incoming, scope, assertion="", client_ip=client_ip)
            if name != ASSERTION_HEADER
        ]
        raw_path = (scope.get("raw_path") or path.encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        url = URL(self.runtime.upstreams[CONSOLE] + raw_path + (f"?{query}" if query else ""), encoded=True)
        body = _Body(receive, self._limit) if incoming.has_body else None
        try:
            resp = await send_upstream(
                self.runtime.session, self.runtime.fresh_session, incoming.method, url, service=CONSOLE,
                headers=headers, allow_redirects=False, data=await _payload(body, incoming, self._limit),
                timeout=self._timeout,
            )
        except (aiohttp.ClientError, TimeoutError, OSError, PayloadTooLarge, _ClientGone) as exc:
            if body is not None and body.too_large:
                raise PayloadTooLarge(detail={"max_bytes": self._limit}) from exc
            if body is not None and body.disconnected:
                return CLIENT_CLOSED
            raise _upstream_error(CONSOLE, exc) from exc
        async with resp:
            await send({
                "type": "http.response.start", "status": resp.status,
                "headers": response_headers(resp.raw_headers, request_id=incoming.request_id),
            })
            try:
                await _pump(resp, send)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                logger.warning("console answer cut short: %r", exc)
            return resp.status


async def _error_page(exc: KnowrithmError, scope: Scope, receive: Receive, send: Send) -> None:
    """A browser's view of a failure before the console answered (it is down, or the body too large)."""
    text = html.escape(exc.message)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Knowrithm console</title>'
        f"</head><body><main><h1>Knowrithm console</h1><p>{text}</p></main></body></html>"
    )
    response = HTMLResponse(page, status_code=exc.status_code, headers={
        **exc.headers, "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    })
    await response(scope, receive, send)
