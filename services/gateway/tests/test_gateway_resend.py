"""A request that meets a dead pooled upstream connection is resent once on a fresh one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from knowrithm_gateway.main import create_app

from .conftest import Keys, ThreadedServer, TokenFactory, bearer, gateway_settings, upstream_urls


@dataclass
class DroppingUpstream:
    """Answers the first request of each connection, keeps it open, then drops the next one
    unread: from the gateway's side, a pooled connection that died while idle."""

    answered: list[tuple[str, bytes]] = field(default_factory=list)
    dropped: int = 0
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            request_line, headers = await _head(reader)
            size = int(headers.get("content-length", "0"))
            body = await reader.readexactly(size) if size else b""
            self.answered.append((request_line, body))
            answer = json.dumps({"request": request_line, "body": body.decode()}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(answer)}\r\n\r\n".encode() + answer
            )
            await writer.drain()
            if await reader.read(1):  # the next request on this connection
                self.dropped += 1
        finally:
            writer.close()


async def _head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    raw = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in raw[1:] if ": " in line)
    return raw[0], headers


@pytest.fixture
async def dropping() -> AsyncIterator[tuple[DroppingUpstream, str]]:
    upstream = DroppingUpstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield upstream, f"http://127.0.0.1:{port}"


@pytest.fixture
def gateway_before(
    keys: Keys, upstreams: dict[str, Any], stack: Any, dropping: tuple[DroppingUpstream, str]
) -> Iterator[str]:
    """A gateway whose agents upstream is the dropping one."""
    urls = {**upstream_urls(upstreams), "agents": dropping[1]}
    server = ThreadedServer(create_app(gateway_settings(keys, stack, urls))).start()
    yield server.url
    server.stop()


async def test_post_after_a_dead_pooled_connection_is_resent_and_succeeds(
    gateway_before: str, dropping: tuple[DroppingUpstream, str], make_token: TokenFactory
) -> None:
    upstream, _ = dropping
    async with httpx.AsyncClient(base_url=gateway_before, timeout=10) as client:
        first = await client.get("/api/v1/agent", headers=bearer(make_token()))
        assert first.status_code == 200  # its connection now waits in the gateway's pool
        # Another tenant's write goes out on that pooled connection, which is dead.
        write = await client.post(
            "/api/v1/agent", headers=bearer(make_token()), json={"name": "Support"}
        )
    assert write.status_code == 200, write.text
    assert json.loads(write.json()["body"]) == {"name": "Support"}
    assert upstream.dropped == 1
    # The application got the write once: on the fresh connection.
    assert [line for line, _ in upstream.answered] == [
        "GET /api/v1/agent HTTP/1.1", "POST /api/v1/agent HTTP/1.1",
    ]
