"""The proxy: a pure-ASGI app that routes, admits (admission.py) and streams to the upstreams.

The gateway app hands it every request under `/api/` (and the widget script) before
FastAPI's own stack (telemetry, error and body-limit middlewares, router, dependencies): on
the hot path that stack cost more than the proxying itself (bench/gateway_overhead.py).
Responses stream, never buffered; request bodies stream too, except small ones (at most
1 MiB, every JSON operation's), read whole so a dead pooled connection can be retried
(upstream.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
from opentelemetry import propagate, trace
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from yarl import URL

from knowrithm_common.errors import (
    BadGateway,
    GatewayTimeout,
    KnowrithmError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    error_body,
)
from knowrithm_common.logging import request_id_var
from knowrithm_common.telemetry import extract_context, tracer
from knowrithm_gateway.admission import Exchange
from knowrithm_gateway.headers import Incoming, read_incoming, response_headers, upstream_headers
from knowrithm_gateway.metrics import METHODS, UNMATCHED, observe_request, observe_upstream_error
from knowrithm_gateway.platform_health import answer_platform_health
from knowrithm_gateway.routing import API_PREFIX, PLATFORM_HEALTH, TASKS, WIDGET_SCRIPT, Route
from knowrithm_gateway.tasks import fan_out_task_status
from knowrithm_gateway.upstream import REPLAYABLE_BYTES, send_upstream

if TYPE_CHECKING:
    from knowrithm_gateway.policies import Operation
    from knowrithm_gateway.runtime import GatewayRuntime

logger = logging.getLogger(__name__)

HEALTH_ALIAS = "/api/v1/health"  # the gateway's own /health, where the official SDK asks for it
CLIENT_CLOSED = 499  # nginx's code for "client went away first"; metrics only
_END = {"type": "http.response.body", "body": b"", "more_body": False}


class _ClientGone(Exception):
    """The client disconnected while its request body was being read."""


class _Body:
    """The request body as an async iterator of chunks, refused once it passes the limit."""

    __slots__ = ("disconnected", "limit", "receive", "received", "too_large")

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.received = 0
        self.too_large = False
        self.disconnected = False

    async def read(self) -> bytes:
        """The whole body (a small one: it can then be sent again, see upstream.py)."""
        return b"".join([chunk async for chunk in self.chunks()])

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                raise _ClientGone()
            chunk = message.get("body", b"")
            self.received += len(chunk)
            if self.received > self.limit:
                # Chunked uploads announce no size: the limit is enforced as bytes arrive.
                self.too_large = True
                raise PayloadTooLarge(detail={"max_bytes": self.limit})
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


def is_proxied(path: str) -> bool:
    """Whether the proxy (not the gateway's own FastAPI routes) answers this path."""
    return (path.startswith(API_PREFIX) and path != HEALTH_ALIAS) or path == WIDGET_SCRIPT


class Proxy:
    """Answers every proxied path: route, authenticate, forward, stream back."""

    def __init__(self, runtime: GatewayRuntime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self._limit = settings.max_body_bytes
        self._stream_idle = settings.stream_idle_timeout_seconds
        # Spans only matter when they are exported; otherwise traceparent passes through as is.
        self._tracing = bool(settings.otel_exporter_otlp_endpoint)
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout_seconds,
            sock_read=settings.upstream_timeout_seconds,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        arrived = time.time()
        runtime = self.runtime
        path, method = scope["path"], scope["method"]
        route = runtime.routes.match(path)
        operation = (
            runtime.operations.policy(method, path, route_template=route.template)
            if route is not None else None
        )
        exchange = Exchange(route, operation, operation.template if operation else UNMATCHED)
        status = CLIENT_CLOSED
        request_id = ""
        token = None
        try:
            incoming = read_incoming(scope)
            request_id = incoming.request_id
            token = request_id_var.set(request_id)
            if self._tracing:
                status = await self._traced(scope, receive, send, incoming=incoming, exchange=exchange)
            else:
                status = await self._dispatch(
                    scope, receive, send, incoming=incoming, exchange=exchange
                )
        except KnowrithmError as exc:
            status = exc.status_code
            await _send_error(exc, scope, receive, send, request_id=request_id, exchange=exchange)
        except Exception:
            # Failures after the response started stay inside _forward, so none reach here.
            logger.exception("proxy failed on %s %s", method, path)
            status = 500
            await _send_error(
                KnowrithmError(), scope, receive, send, request_id=request_id, exchange=exchange
            )
        finally:
            if token is not None:
                request_id_var.reset(token)
            seconds = time.perf_counter() - start
            observe_request(route=exchange.label, method=method, status=status, seconds=seconds)
            runtime.usage.record(exchange.usage_row(
                request_id=request_id or uuid.uuid4().hex, arrived=arrived,
                method=method if method in METHODS else "OTHER", status=status, seconds=seconds,
            ))

    async def _traced(
        self, scope: Scope, receive: Receive, send: Send, *, incoming: Incoming, exchange: Exchange
    ) -> int:
        carrier = {k: v for k, v in incoming.forward if k in ("traceparent", "tracestate")}
        name = f"{scope['method']} {exchange.label}"
        with tracer("knowrithm.gateway").start_as_current_span(
            name, context=extract_context(carrier), kind=trace.SpanKind.SERVER
        ) as span:
            status = await self._dispatch(scope, receive, send, incoming=incoming, exchange=exchange)
            span.set_attribute("http.response.status_code", status)
            return status

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, *, incoming: Incoming, exchange: Exchange
    ) -> int:
        route, operation = exchange.route, exchange.operation
        if route is None or operation is None:
            raise NotFound(f"No API route matches {scope['path']}")
        limit = self._body_limit(operation)
        if incoming.content_length is not None and incoming.content_length > limit:
            raise PayloadTooLarge(detail={"max_bytes": limit})
        assertion = await self.runtime.gate.admit(scope, incoming, operation, exchange)
        headers = upstream_headers(
            incoming, scope, assertion=assertion, traceparent=self._traceparent(),
            client_ip=exchange.client_ip,
        )
        if route.service == TASKS:
            return await fan_out_task_status(
                self.runtime, scope, send, headers=headers, request_id=incoming.request_id,
                extra_headers=exchange.rate_headers,
            )
        if route.service == PLATFORM_HEALTH:
            return await answer_platform_health(
                self.runtime, scope, send, request_id=incoming.request_id,
                extra_headers=exchange.rate_headers,
            )
        return await self._forward(
            scope, receive, send, incoming=incoming, route=route, headers=headers, limit=limit,
            extra_headers=exchange.rate_headers,
        )

    def _body_limit(self, operation: Operation) -> int:
        """The operation's own limit (never above the gateway-wide one); uploads follow `max_file_size`."""
        if operation.max_body is not None:
            return min(operation.max_body, self._limit)
        # Declared without a limit of their own means: takes uploads (policies.py).
        return self.runtime.limits.upload_body_bytes if operation.declared else self._limit

    def _traceparent(self) -> str | None:
        if not self._tracing:
            return None
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return carrier.get("traceparent")

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, *, incoming: Incoming, route: Route,
        headers: list[tuple[str, str]], extra_headers: list[tuple[str, str]], limit: int,
    ) -> int:
        url = self._url(scope, route.service)
        body = _Body(receive, limit) if incoming.has_body else None
        runtime = self.runtime
        try:
            resp = await send_upstream(
                runtime.session, runtime.fresh_session, incoming.method, url,
                service=route.service, headers=headers, allow_redirects=False,
                data=await _payload(body, incoming, limit), timeout=self._timeout,
            )
        except (aiohttp.ClientError, TimeoutError, OSError, PayloadTooLarge, _ClientGone) as exc:
            # aiohttp wraps what the body iterator raised: its flags say what really happened.
            if body is not None and body.too_large:
                raise PayloadTooLarge(detail={"max_bytes": limit}) from exc
            if body is not None and body.disconnected:
                return CLIENT_CLOSED
            raise _upstream_error(route.service, exc) from exc
        async with resp:
            await send({
                "type": "http.response.start", "status": resp.status,
                "headers": response_headers(
                    resp.raw_headers, request_id=incoming.request_id, extra=extra_headers
                ),
            })
            try:
                if resp.content_type == "text/event-stream":
                    await self._stream_events(resp, receive, send)
                else:
                    await _pump(resp, send)
            except (aiohttp.ClientError, TimeoutError) as exc:
                # Headers are out: the only honest signal left is cutting the response short.
                observe_upstream_error(upstream=route.service, kind=_error_kind(exc))
                logger.warning("upstream %s failed mid-response: %r", route.service, exc)
            except OSError as exc:  # the client's side of the socket failed
                logger.info("client left during the response: %r", exc)
            return resp.status

    def _url(self, scope: Scope, service: str) -> URL:
        # The raw path goes on byte for byte: re-quoting could change what the service sees.
        raw_path = scope.get("raw_path") or scope["path"].encode()
        target = self.runtime.upstreams[service] + raw_path.decode("latin-1")
        query = scope.get("query_string")
        if query:
            target += "?" + query.decode("latin-1")
        return URL(target, encoded=True)

    async def _stream_events(
        self, resp: aiohttp.ClientResponse, receive: Receive, send: Send
    ) -> None:
        """SSE: no per-read deadline but the idle limit, and stop when the client leaves."""
        if resp.connection is not None and resp.connection.protocol is not None:
            resp.connection.protocol.read_timeout = self._stream_idle
            resp.connection.protocol.start_timeout()
        pump = asyncio.ensure_future(_pump(resp, send))
        # uvicorn's send() ignores a gone client, so only receive() tells us it left.
        watch = asyncio.ensure_future(_client_disconnected(receive))
        try:
            await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, watch):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if not pump.cancelled():
            pump.result()
        else:
            resp.close()  # closes the upstream connection, which ends the service's generator


async def _payload(
    body: _Body | None, incoming: Incoming, limit: int
) -> bytes | AsyncIterator[bytes] | None:
    """Small bodies read whole, so a dead pooled connection can be retried; uploads stream."""
    if body is None:
        return None
    size = incoming.content_length
    if limit <= REPLAYABLE_BYTES or (size is not None and size <= REPLAYABLE_BYTES):
        return await body.read()
    return body.chunks()


async def _pump(resp: aiohttp.ClientResponse, send: Send) -> None:
    """Copy the response body chunk by chunk as it arrives."""
    remaining = resp.content_length
    read = resp.content.readany
    while True:
        chunk = await read()
        if not chunk:
            await send(_END)
            return
        if remaining is not None:
            remaining -= len(chunk)
            if remaining <= 0:
                # The last announced byte: finish in this message, saving a send.
                await send({"type": "http.response.body", "body": chunk, "more_body": False})
                return
        await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _client_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return "unavailable"
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is one too
        return "timeout"
    return "bad_gateway"


def _upstream_error(service: str, exc: BaseException) -> KnowrithmError:
    """The shared-shape error for an upstream that failed before answering."""
    kind = _error_kind(exc)
    observe_upstream_error(upstream=service, kind=kind)
    if kind == "unavailable":
        return ServiceUnavailable(f"The {service} service is unavailable")
    if kind == "timeout":
        return GatewayTimeout(f"The {service} service did not answer in time")
    logger.warning("upstream %s failed: %r", service, exc)
    return BadGateway(f"The {service} service failed to answer")


async def _send_error(
    exc: KnowrithmError, scope: Scope, receive: Receive, send: Send, *, request_id: str,
    exchange: Exchange,
) -> None:
    headers = dict(exchange.rate_headers)
    headers.update(exc.headers)
    if request_id:
        headers["x-request-id"] = request_id
    response = JSONResponse(
        error_body(exc.code, exc.message, exc.detail), status_code=exc.status_code, headers=headers
    )
    await response(scope, receive, send)
