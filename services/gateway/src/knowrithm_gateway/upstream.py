"""The upstream connection pool, and the one resend of a request that met a dead pooled connection.

A keep-alive connection can die while it waits in the pool: the service closed it (its
keep-alive ran out, it restarted, or it cut the connection after an error) and the close
is still on its way when the gateway writes the next request into it. That request never
reached the application, so the gateway sends it again, once, on a fresh connection, for
every method, when all of these hold:

- it failed on a connection taken from the pool. A new connection that dies is not retried:
  there the request may have died inside the application (a crash), and a POST sent twice
  could act twice;
- it failed before any response byte: aiohttp's ServerDisconnectedError without a partial
  response, or an OS error on the socket (reset, broken pipe). A connect error (the service
  is down: 503) and a timeout (it may still be working: 504) are never retried;
- its body can be sent again: there is none, or it was read whole before sending. Bodies
  announced at most `REPLAYABLE_BYTES` long (every declared JSON operation's limit) are read
  whole; larger or chunked uploads stream and are never resent.

aiohttp itself already resends idempotent methods once on the pool (RFC 9112 §9.3.1); the
resend here comes on top only if that attempt met a dead pooled connection too.
"""

from __future__ import annotations

import logging
import weakref
from contextvars import ContextVar
from typing import Any

import aiohttp
from yarl import URL

from knowrithm_gateway.config import GatewaySettings
from knowrithm_gateway.metrics import observe_upstream_resend
from knowrithm_gateway.policies import JSON_BODY_BYTES

logger = logging.getLogger(__name__)

REPLAYABLE_BYTES = JSON_BODY_BYTES
_DEAD = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)

# Whether the current task's last upstream request went out on a pooled connection.
_reused: ContextVar[bool] = ContextVar("knowrithm_gateway_pooled_connection", default=False)


class TrackingConnector(aiohttp.TCPConnector):
    """A TCPConnector that notes whether it handed the current task a pooled connection."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._handed_out: weakref.WeakSet[Any] = weakref.WeakSet()

    async def connect(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
        conn = await super().connect(req, traces, timeout)
        protocol = conn.protocol
        if protocol is not None:
            _reused.set(protocol in self._handed_out)
            self._handed_out.add(protocol)
        return conn


def _session(settings: GatewaySettings, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        # Bytes pass through untouched (Content-Encoding and Content-Length stay true), no
        # cookies are kept between users, and no headers the client did not send.
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=settings.connect_timeout_seconds),
    )


def pooled_session(settings: GatewaySettings) -> aiohttp.ClientSession:
    """The keep-alive pool every upstream request uses first."""
    return _session(settings, TrackingConnector(
        limit=settings.pool_size, limit_per_host=0,
        keepalive_timeout=settings.pool_keepalive_seconds, ttl_dns_cache=300,
    ))


def fresh_session(settings: GatewaySettings) -> aiohttp.ClientSession:
    """A session that opens a new connection per request: the resend's."""
    return _session(settings, aiohttp.TCPConnector(force_close=True, limit=0, ttl_dns_cache=300))


def _resendable(exc: BaseException, data: object) -> bool:
    if isinstance(exc, aiohttp.ClientConnectorError) or not _reused.get():
        return False
    if isinstance(exc, aiohttp.ServerDisconnectedError) and not isinstance(exc.message, str):
        return False  # part of a response had arrived: the application had the request
    return data is None or isinstance(data, bytes)


async def send_upstream(
    pooled: aiohttp.ClientSession, fresh: aiohttp.ClientSession, method: str, url: URL, *,
    service: str, **options: Any,
) -> aiohttp.ClientResponse:
    """`pooled.request(...)`, resent once on `fresh` when a dead pooled connection lost it."""
    _reused.set(False)
    try:
        return await pooled.request(method, url, **options)
    except _DEAD as exc:
        if not _resendable(exc, options.get("data")):
            raise
        observe_upstream_resend(upstream=service)
        logger.info("resending %s to %s on a fresh connection: %r", method, service, exc)
        return await fresh.request(method, url, **options)
