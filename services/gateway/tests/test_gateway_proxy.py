"""Forwarding: bodies, streaming, upstream failures and the headers that travel each way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from .conftest import TokenFactory, bearer

LIMIT = 1024 * 1024  # the test gateway's max_body_bytes


@pytest.fixture(scope="module")
async def client(gateway_url: str, make_token: TokenFactory) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-in client (one admin for the module): these routes need credentials."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10, headers=bearer(make_token())) as http:
        yield http


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"x" * n


async def test_body_under_limit_arrives_whole_at_upstream(client: httpx.AsyncClient) -> None:
    size = LIMIT - 1000
    sized = await client.post("/api/v1/document/upload", content=b"y" * size)
    assert sized.json()["body_bytes"] == size
    assert sized.json()["headers"]["content-length"] == str(size)
    chunked = await client.post("/api/v1/document/upload", content=_chunks(size))
    assert chunked.json()["body_bytes"] == size


async def test_body_over_limit_by_content_length_returns_413(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/document/upload", content=b"z" * (LIMIT + 1))
    assert resp.status_code == 413
    assert resp.json()["error"] == "payload_too_large"
    assert resp.json()["success"] is False


async def test_chunked_body_over_limit_returns_413(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/document/upload", content=_chunks(LIMIT + 200_000))
    assert resp.status_code == 413
    assert resp.json()["error"] == "payload_too_large"


async def test_sse_events_arrive_incrementally(
    client: httpx.AsyncClient, upstreams: dict[str, Any]
) -> None:
    state = upstreams["conversations"][0]
    state.release_second_event.clear()
    state.second_event_sent = False
    path = "/api/v1/conversation/c1/messages/stream"
    async with client.stream("GET", path, headers={"Accept": "text/event-stream"}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = resp.aiter_lines()
        first = await asyncio.wait_for(anext(lines), timeout=5)
        # The upstream is still holding the second event back: nothing was buffered.
        assert first == "data: one"
        assert state.second_event_sent is False
        state.release_second_event.set()
        rest = [line async for line in lines]
    assert "data: two" in rest


async def test_sse_stream_is_not_cut_by_the_upstream_timeout(
    client: httpx.AsyncClient, upstreams: dict[str, Any]
) -> None:
    state = upstreams["conversations"][0]
    state.release_second_event.clear()
    path = "/api/v1/conversation/c2/messages/stream"
    async with client.stream("GET", path) as resp:
        lines = resp.aiter_lines()
        assert await anext(lines) == "data: one"
        await asyncio.sleep(1.5)  # longer than the gateway's 1 s upstream timeout
        state.release_second_event.set()
        assert "data: two" in [line async for line in lines]


async def test_client_leaving_an_sse_stream_closes_the_upstream_stream(
    gateway_url: str, upstreams: dict[str, Any], signed_in: dict[str, str]
) -> None:
    state = upstreams["conversations"][0]
    state.release_second_event.clear()
    state.stream_closed.clear()
    async with httpx.AsyncClient(base_url=gateway_url, headers=signed_in) as http:
        async with http.stream("GET", "/api/v1/conversation/c3/messages/stream") as resp:
            assert await anext(resp.aiter_lines()) == "data: one"
    # The client is gone; the upstream generator must be stopped, not left waiting forever.
    closed = await asyncio.to_thread(state.stream_closed.wait, 5)
    state.release_second_event.set()
    assert closed


async def test_upstream_down_returns_503(
    degraded_gateway_url: str, signed_in: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=degraded_gateway_url, headers=signed_in) as http:
        resp = await http.get("/api/v1/overview")
    assert resp.status_code == 503
    assert resp.json()["error"] == "service_unavailable"
    assert "x-request-id" in resp.headers


async def test_slow_upstream_returns_504(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    resp = await client.get("/api/v1/agent/slow")
    assert resp.status_code == 504
    assert resp.json()["error"] == "gateway_timeout"
    assert time.monotonic() - started < 1.8  # the 1 s timeout, not the upstream's 2 s


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/api/v1/agent", headers={"X-Request-ID": "req-123"})
    assert given.headers["x-request-id"] == "req-123"
    assert given.json()["headers"]["x-request-id"] == "req-123"
    generated = await client.get("/api/v1/agent")
    assert len(generated.headers["x-request-id"]) >= 16
    unsafe = await client.get("/api/v1/agent", headers={"X-Request-ID": "a b\tc"})
    assert unsafe.headers["x-request-id"] != "a b\tc"
    missing = await client.get("/api/v1/nothing", headers={"X-Request-ID": "req-404"})
    assert missing.headers["x-request-id"] == "req-404"


async def test_forwarding_headers_reach_upstream(client: httpx.AsyncClient) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    resp = await client.get("/api/v1/agent", headers={
        "traceparent": traceparent, "X-Forwarded-For": "203.0.113.9",
        "Connection": "keep-alive, X-Hop", "X-Hop": "secret", "X-Custom": "kept",
        "X-Knowrithm-Client-IP": "198.51.100.7",
    })
    seen = resp.json()["headers"]
    assert seen["traceparent"] == traceparent
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    # The peer is no trusted proxy: the client is the peer, whatever the caller wrote.
    assert seen["x-knowrithm-client-ip"] == "127.0.0.1"
    direct = (await client.get("/api/v1/agent")).json()["headers"]
    assert direct["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-custom"] == "kept"
    assert "x-hop" not in seen


async def test_cors_preflight_allows_configured_origin(client: httpx.AsyncClient) -> None:
    resp = await client.options("/api/v1/agent", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    })
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "https://app.example.com"
    other = await client.options("/api/v1/agent", headers={
        "Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST",
    })
    assert "access-control-allow-origin" not in other.headers
