"""System-configuration entries (published by auth to Redis) change a running gateway within its
refresh interval: rate limits of tokens and API keys already in use, and the upload body limit.

This gateway uses a Redis database of its own, so the snapshot written here reaches no other gateway.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from knowrithm_common.sysconfig import publish_snapshot
from knowrithm_gateway.main import create_app

from .conftest import (
    KeyFactory,
    Keys,
    ThreadedServer,
    TokenFactory,
    bearer,
    clear_of_window_edge,
    gateway_client,
    gateway_settings,
    upstream_urls,
)

MIB = 1024 * 1024
UNLIMITED = "1000000"  # the test gateways' own per-user and per-company limits
Publish = Callable[[dict[str, Any]], Awaitable[None]]


def _redis_url(stack: Any) -> str:
    return stack.redis_url.rsplit("/", 1)[0] + "/11"


@pytest.fixture(scope="module")
def live_url(keys: Keys, upstreams: Any, stack: Any) -> Iterator[str]:
    settings = gateway_settings(
        keys, stack, upstream_urls(upstreams), redis_url=_redis_url(stack), system_config_refresh_seconds=0.1
    )
    server = ThreadedServer(create_app(settings)).start()
    yield server.url
    server.stop()


live = gateway_client("live_url")


async def _until(probe: Callable[[], Awaitable[bool]], *, timeout: float = 2.0) -> float:
    """Seconds until `probe()` holds; fails after `timeout`."""
    started = time.monotonic()
    while not await probe():
        assert time.monotonic() - started < timeout, f"not in force within {timeout} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
async def publish(stack: Any, live: httpx.AsyncClient, make_token: TokenFactory) -> AsyncIterator[Publish]:
    """Publish a snapshot as auth does; afterwards the gateway is back on its own settings."""
    redis = Redis.from_url(_redis_url(stack))
    revisions = itertools.count(int(time.time() * 1000))

    async def publish(values: dict[str, Any]) -> None:
        await publish_snapshot(redis, revision=next(revisions), values=values)

    yield publish
    await publish({})
    fresh = bearer(make_token())

    async def unlimited() -> bool:
        return (await live.get("/api/v1/agent", headers=fresh)).headers.get("x-ratelimit-limit") == UNLIMITED

    await _until(unlimited)
    await redis.aclose()


async def test_lowered_user_limit_applies_to_a_token_already_in_use(
    live: httpx.AsyncClient, publish: Publish, make_token: TokenFactory
) -> None:
    await clear_of_window_edge()
    user = bearer(make_token())
    assert (await live.get("/api/v1/agent", headers=user)).headers["x-ratelimit-limit"] == UNLIMITED
    await publish({"rate_limit_user_per_minute": 3})

    async def limited() -> bool:
        resp = await live.get("/api/v1/agent", headers=user)
        return resp.status_code == 429 or resp.headers["x-ratelimit-limit"] == "3"

    await _until(limited)
    for _ in range(3):
        resp = await live.get("/api/v1/agent", headers=user)
    assert resp.status_code == 429 and resp.json()["detail"] == {
        "limit": "user", "max_requests": 3, "window_seconds": 60}


async def test_lowered_company_limit_applies_to_an_api_key_already_held(
    live: httpx.AsyncClient, publish: Publish, make_api_key: KeyFactory
) -> None:
    await clear_of_window_edge()
    key = make_api_key()
    assert (await live.get("/api/v1/agent", headers=key.headers)).status_code == 200
    await publish({"rate_limit_company_per_minute": 2})

    async def refused() -> bool:
        resp = await live.get("/api/v1/agent", headers=key.headers)
        return resp.status_code == 429 and resp.json()["detail"]["limit"] == "company"

    await _until(refused)
    await publish({})

    async def admitted() -> bool:
        return (await live.get("/api/v1/agent", headers=key.headers)).status_code == 200

    await _until(admitted)  # removing the entry restores the gateway's own limit


async def test_upload_body_limit_follows_max_file_size_and_json_limits_stay(
    live: httpx.AsyncClient, publish: Publish, signed_in: dict[str, str]
) -> None:
    body = b"u" * (2 * MIB)  # over this gateway's own 1 MiB body limit

    async def upload_status() -> int:
        return (await live.post("/api/v1/document/upload", content=body, headers=signed_in)).status_code

    assert await upload_status() == 413
    await publish({"max_file_size": 4 * MIB})  # uploads may now be 4 MiB + 5 MiB of framing

    async def accepted() -> bool:
        return await upload_status() == 200

    await _until(accepted)
    declared_json = await live.post("/api/v1/agent", content=body, headers=signed_in)
    assert declared_json.status_code == 413  # JSON operations keep their own 1 MiB
    await publish({})

    async def refused() -> bool:
        return await upload_status() == 413

    await _until(refused)
