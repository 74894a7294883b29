"""Request-reply between services over NATS (DESIGN §3: `rpc.<service>.<name>.v<N>`).

A responder subscribes in a queue group (one replica answers each request); requests and
replies are pydantic models as JSON. A reply is `{"ok": true, "data": …}` or `{"ok": false,
"error": code, "message": …}`; the caller gets the data or an `RpcFailed` carrying the code,
and `RpcUnavailable` when nobody answers within the timeout. Trace context rides in headers.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel, ValidationError

from knowrithm_common.errors import KnowrithmError
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.telemetry import current_traceparent, extract_context, tracer

logger = logging.getLogger(__name__)

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)


class RpcFailed(Exception):
    """The responder answered with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class RpcUnavailable(Exception):
    """Nobody answered in time (no responder, or it is overloaded or down)."""


async def call(
    nats: NatsConnection, subject: str, request: BaseModel, reply: type[Resp], *, timeout: float = 5.0
) -> Resp:
    """Send `request` to `subject` and return the parsed reply."""
    headers = {}
    traceparent = current_traceparent()
    if traceparent:
        headers["traceparent"] = traceparent
    try:
        msg = await nats.client.request(
            subject, request.model_dump_json().encode(), timeout=timeout, headers=headers or None
        )
    except (NatsTimeout, NoRespondersError, ConnectionError) as exc:
        raise RpcUnavailable(f"{subject}: {type(exc).__name__}") from exc
    body = json.loads(msg.data)
    if not body.get("ok"):
        raise RpcFailed(str(body.get("error", "rpc_failed")), str(body.get("message", "")))
    return reply.model_validate(body["data"])


class RpcResponder(Generic[Req, Resp]):
    """Answers one subject in a queue group with `handler(request) -> reply`."""

    def __init__(
        self,
        *,
        nats: NatsConnection,
        subject: str,
        queue: str,
        request: type[Req],
        handler: Callable[[Req], Awaitable[Resp]],
    ) -> None:
        self.nats, self.subject, self.queue = nats, subject, queue
        self.request, self.handler = request, handler
        self._sub: Any = None

    async def start(self) -> None:
        await self.nats.wait_connected()
        self._sub = await self.nats.client.subscribe(self.subject, queue=self.queue, cb=self._on_message)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_message(self, msg: Msg) -> None:
        ctx = extract_context(dict(msg.headers or {}))
        with tracer().start_as_current_span(f"rpc {self.subject}", context=ctx):
            body = await self._answer(msg.data)
        with contextlib.suppress(Exception):
            await msg.respond(json.dumps(body, default=str).encode())

    async def _answer(self, data: bytes) -> dict[str, Any]:
        try:
            request = self.request.model_validate_json(data)
        except ValidationError as exc:
            return {"ok": False, "error": "invalid_request", "message": str(exc.errors()[:3])}
        try:
            reply = await self.handler(request)
        except KnowrithmError as exc:
            return {"ok": False, "error": exc.code, "message": exc.message}
        except Exception as exc:
            logger.exception("rpc %s failed", self.subject)
            return {"ok": False, "error": "internal_error", "message": type(exc).__name__}
        return {"ok": True, "data": reply.model_dump(mode="json")}
