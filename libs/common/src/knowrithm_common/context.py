"""Per-request context: request id and a server span continuing the caller's trace."""

from __future__ import annotations

import uuid

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from knowrithm_common.logging import request_id_var
from knowrithm_common.telemetry import extract_context, tracer

REQUEST_ID_HEADER = b"x-request-id"


class RequestContextMiddleware:
    """Sets the request id (incoming `X-Request-ID` or a new one) and a server span."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].append((REQUEST_ID_HEADER, request_id.encode()))
            await send(message)

        span_name = f"{scope['method']} {scope['path']}"
        with tracer().start_as_current_span(
            span_name, context=extract_context(headers), kind=trace.SpanKind.SERVER
        ):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                request_id_var.reset(token)
