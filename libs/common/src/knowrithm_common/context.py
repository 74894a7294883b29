"""Per-request context: the request id (incoming `X-Request-ID` or a new one).

Server spans come from FastAPI's native OpenTelemetry support (it continues the caller's
`traceparent`), so this middleware only carries the request id into logs and the response.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from knowrithm_common.logging import request_id_var

REQUEST_ID_HEADER = b"x-request-id"


class HttpMiddleware(ABC):
    """A pure-ASGI middleware of HTTP requests; other scopes (lifespan, websockets) pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @abstractmethod
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request; `self.app` is the rest of the application."""


class RequestContextMiddleware(HttpMiddleware):
    """Sets the request id for logs and echoes it on the response."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = next((v for k, v in scope.get("headers", ()) if k == REQUEST_ID_HEADER), b"")
        request_id = incoming.decode("latin-1")[:128] or uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
