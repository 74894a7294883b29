"""`/api/v1/tasks/{id}/status`: every service keeps its own task rows, so ask them all at once.

The first answer other than 404 (or a 5xx) wins. When every service says 404 the task does
not exist; when some could not answer, the task may live there, so that is a 503, not a 404.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from starlette.types import Scope, Send

from knowrithm_common.errors import MethodNotAllowed, NotFound, ServiceUnavailable
from knowrithm_gateway.routing import TASK_OWNERS

if TYPE_CHECKING:
    from knowrithm_gateway.runtime import GatewayRuntime


@dataclass(frozen=True, slots=True)
class _Answer:
    service: str
    status: int
    body: bytes
    content_type: str | None


async def _ask(
    session: aiohttp.ClientSession, *, service: str, url: str, headers: list[tuple[str, str]],
    client_timeout: aiohttp.ClientTimeout,
) -> _Answer:
    request = session.get(url, headers=headers, timeout=client_timeout, allow_redirects=False)
    async with request as resp:
        body = await resp.read()
        return _Answer(service, resp.status, body, resp.headers.get("content-type"))


async def find_task_answer(
    runtime: GatewayRuntime, *, path_and_query: str, headers: list[tuple[str, str]]
) -> _Answer:
    """Ask every task owner concurrently; the owner's answer, or the error that fits."""
    timeout = aiohttp.ClientTimeout(
        total=runtime.settings.upstream_timeout_seconds,
        sock_connect=runtime.settings.connect_timeout_seconds,
    )
    pending = [
        asyncio.ensure_future(_ask(
            runtime.session, service=service, url=runtime.upstreams[service] + path_and_query,
            headers=headers, client_timeout=timeout,
        ))
        for service in TASK_OWNERS
    ]
    failed: list[_Answer] = []
    unreachable = False
    try:
        for next_done in asyncio.as_completed(pending):
            try:
                answer = await next_done
            except (aiohttp.ClientError, TimeoutError):
                unreachable = True
                continue
            if answer.status >= 500:
                failed.append(answer)
            elif answer.status != 404:
                return answer
    finally:
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*pending, return_exceptions=True)
    if failed:
        return failed[0]
    if unreachable:
        raise ServiceUnavailable("A service that may hold this task did not answer")
    raise NotFound("Task not found")


async def fan_out_task_status(
    runtime: GatewayRuntime, scope: Scope, send: Send, *, headers: list[tuple[str, str]],
    request_id: str, extra_headers: list[tuple[str, str]],
) -> int:
    """Answer a task-status request from whichever service owns the task."""
    if scope["method"] not in ("GET", "HEAD"):
        raise MethodNotAllowed(headers={"Allow": "GET"})
    path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    path_and_query = f"{path}?{query}" if query else path
    # Without a body, a body-length header would be a lie to the upstreams.
    headers = [(k, v) for k, v in headers if k != "content-length"]
    answer = await find_task_answer(runtime, path_and_query=path_and_query, headers=headers)
    response_headers = [
        (b"content-length", str(len(answer.body)).encode()),
        (b"x-request-id", request_id.encode("latin-1")),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra_headers),
    ]
    if answer.content_type:
        response_headers.append((b"content-type", answer.content_type.encode("latin-1")))
    await send(
        {"type": "http.response.start", "status": answer.status, "headers": response_headers}
    )
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})
    return answer.status
