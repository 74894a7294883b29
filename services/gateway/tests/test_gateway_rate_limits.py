"""Rate limits per API key, user, company and client IP: 429 with Retry-After, and the headers.

These gateways use a Redis database of their own, so the counters of the other suites'
gateways (same machine, same 127.0.0.1) never add to theirs.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from knowrithm_gateway.main import create_app

from .conftest import (
    Keys,
    ThreadedServer,
    bearer,
    clear_of_window_edge,
    free_port,
    gateway_client,
    gateway_settings,
    upstream_urls,
)

LIMITS = {
    "rate_limit_user_per_minute": 5, "rate_limit_company_per_minute": 8,
    "rate_limit_anonymous_per_minute": 4, "rate_limit_auth_per_minute": 3,
}


def _redis_db(url: str, db: int) -> str:
    return url.rsplit("/", 1)[0] + f"/{db}"


def _ip() -> str:
    """A client address no other test uses (the limited gateway trusts 127.0.0.1 as its proxy)."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def _serve(keys: Keys, upstreams: Any, stack: Any, *, db: int, **options: Any) -> ThreadedServer:
    uvicorn_options = options.pop("uvicorn", {})
    settings = gateway_settings(
        keys, stack, upstream_urls(upstreams), redis_url=_redis_db(stack.redis_url, db),
        **{**LIMITS, **options},
    )
    return ThreadedServer(create_app(settings), **uvicorn_options).start()


@pytest.fixture(scope="module")
def limited_url(keys: Keys, upstreams: Any, stack: Any) -> Iterator[str]:
    # The test client plays a trusted proxy, so each test can be a different client address.
    server = _serve(keys, upstreams, stack, db=5, trusted_proxies="127.0.0.1/32")
    yield server.url
    server.stop()


limited = gateway_client("limited_url")


def _assert_headers(resp: httpx.Response, *, limit: int, remaining: int, window: int) -> None:
    assert resp.headers["x-ratelimit-limit"] == str(limit)
    assert resp.headers["x-ratelimit-remaining"] == str(remaining)
    reset = int(resp.headers["x-ratelimit-reset"])
    assert time.time() < reset <= time.time() + window + 1
    assert reset % window == 0  # windows are aligned to the clock


def _assert_refused(resp: httpx.Response, *, limit_name: str, window: int) -> None:
    assert resp.status_code == 429, resp.text
    body = resp.json()
    assert body["success"] is False and body["error"] == "rate_limited"
    assert body["detail"]["limit"] == limit_name
    assert 1 <= int(resp.headers["retry-after"]) <= window
    assert resp.headers["x-ratelimit-remaining"] == "0"


async def test_anonymous_callers_are_limited_per_ip(limited: httpx.AsyncClient) -> None:
    await clear_of_window_edge()
    caller = {"X-Forwarded-For": _ip()}
    for remaining in (3, 2, 1, 0):
        resp = await limited.get("/api/v1/country", headers=caller)
        assert resp.status_code == 200
        _assert_headers(resp, limit=4, remaining=remaining, window=60)
    _assert_refused(await limited.get("/api/v1/country", headers=caller), limit_name="ip", window=60)
    other = await limited.get("/api/v1/country", headers={"X-Forwarded-For": _ip()})
    assert other.status_code == 200


async def test_public_credential_routes_have_a_stricter_per_ip_limit(
    limited: httpx.AsyncClient,
) -> None:
    await clear_of_window_edge()
    caller = {"X-Forwarded-For": _ip()}
    for remaining in (2, 1, 0):
        resp = await limited.post("/api/v1/auth/login", headers=caller)
        assert resp.status_code == 200
        _assert_headers(resp, limit=3, remaining=remaining, window=60)
    refused = await limited.post("/api/v1/auth/refresh", headers=caller)  # the same class
    _assert_refused(refused, limit_name="auth", window=60)
    # Browsing public data is another bucket: a locked-out login does not block it.
    assert (await limited.get("/api/v1/country", headers=caller)).status_code == 200


async def test_users_are_limited_per_minute(
    limited: httpx.AsyncClient, make_token: Any
) -> None:
    await clear_of_window_edge()
    user = bearer(make_token())
    for remaining in (4, 3, 2, 1, 0):
        resp = await limited.get("/api/v1/agent", headers=user)
        assert resp.status_code == 200
        _assert_headers(resp, limit=5, remaining=remaining, window=60)
    _assert_refused(await limited.get("/api/v1/agent", headers=user), limit_name="user", window=60)
    assert (await limited.get("/api/v1/agent", headers=bearer(make_token()))).status_code == 200


async def test_a_company_is_limited_across_its_users(
    limited: httpx.AsyncClient, make_token: Any
) -> None:
    await clear_of_window_edge()
    company = str(uuid.uuid4())
    first, second = bearer(make_token(company_id=company)), bearer(make_token(company_id=company))
    for _ in range(5):
        assert (await limited.get("/api/v1/agent", headers=first)).status_code == 200
    for remaining in (2, 1, 0):  # the company's 8 now binds before the second user's own 5
        resp = await limited.get("/api/v1/agent", headers=second)
        assert resp.status_code == 200
        _assert_headers(resp, limit=8, remaining=remaining, window=60)
    refused = await limited.get("/api/v1/agent", headers=second)
    _assert_refused(refused, limit_name="company", window=60)


async def test_api_key_is_limited_by_its_hourly_limit(
    limited: httpx.AsyncClient, make_api_key: Any
) -> None:
    await clear_of_window_edge(3600)
    key = make_api_key(per_hour=3, per_day=100)
    for remaining in (2, 1, 0):
        resp = await limited.get("/api/v1/agent", headers=key.headers)
        assert resp.status_code == 200
        _assert_headers(resp, limit=3, remaining=remaining, window=3600)
    refused = await limited.get("/api/v1/agent", headers=key.headers)
    _assert_refused(refused, limit_name="api_key_hour", window=3600)


async def test_api_key_is_limited_by_its_daily_limit(
    limited: httpx.AsyncClient, make_api_key: Any
) -> None:
    await clear_of_window_edge(86400)
    key = make_api_key(per_hour=100, per_day=2)
    for remaining in (1, 0):
        resp = await limited.get("/api/v1/agent", headers=key.headers)
        assert resp.status_code == 200
        _assert_headers(resp, limit=2, remaining=remaining, window=86400)
    refused = await limited.get("/api/v1/agent", headers=key.headers)
    _assert_refused(refused, limit_name="api_key_day", window=86400)


async def test_an_operation_with_its_own_limit_counts_each_caller_apart(
    client: httpx.AsyncClient, make_token: Any, make_api_key: Any
) -> None:
    """`POST /search/database` allows 30 a minute per user or API key (the contract's 429),
    below the user's and company's own limits; other operations and other callers are unaffected."""
    await clear_of_window_edge()
    company = str(uuid.uuid4())
    user, colleague = bearer(make_token(company_id=company)), bearer(make_token(company_id=company))
    body = {"query": "SELECT 1"}
    for remaining in range(29, -1, -1):
        resp = await client.post("/api/v1/search/database", json=body, headers=user)
        assert resp.status_code == 200, resp.text
        _assert_headers(resp, limit=30, remaining=remaining, window=60)
    _assert_refused(await client.post("/api/v1/search/database", json=body, headers=user),
                    limit_name="operation", window=60)
    assert (await client.get("/api/v1/agent", headers=user)).status_code == 200
    assert (await client.post("/api/v1/search/database", json=body, headers=colleague)).status_code == 200
    key = make_api_key(scopes=("read", "write"), per_hour=1000, per_day=1000)
    for _ in range(30):
        assert (await client.post("/api/v1/search/database", json=body, headers=key.headers)).status_code == 200
    refused = await client.post("/api/v1/search/database", json=body, headers=key.headers)
    _assert_refused(refused, limit_name="operation", window=60)


async def test_refused_credentials_and_policies_still_carry_the_headers(
    limited: httpx.AsyncClient, make_token: Any
) -> None:
    await clear_of_window_edge()
    anonymous = await limited.get("/api/v1/agent", headers={"X-Forwarded-For": _ip()})
    assert anonymous.status_code == 401
    _assert_headers(anonymous, limit=4, remaining=3, window=60)
    forbidden = await limited.get("/api/v1/admin/user", headers=bearer(make_token(role="user")))
    assert forbidden.status_code == 403
    _assert_headers(forbidden, limit=5, remaining=4, window=60)


async def test_client_ip_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(
    keys: Keys, upstreams: Any, stack: Any
) -> None:
    # uvicorn's own proxy-header handling is off (conftest): the gateway's setting alone decides.
    direct = _serve(keys, upstreams, stack, db=6)
    behind = _serve(keys, upstreams, stack, db=7, trusted_proxies="127.0.0.1/32")
    try:
        await clear_of_window_edge()
        async with httpx.AsyncClient(base_url=direct.url) as http:
            # Not from a trusted proxy: a made-up X-Forwarded-For changes nothing.
            statuses = [
                (await http.get("/api/v1/country", headers={"X-Forwarded-For": _ip()})).status_code
                for _ in range(5)
            ]
        assert statuses == [200, 200, 200, 200, 429]
        async with httpx.AsyncClient(base_url=behind.url) as http:
            client_ip = _ip()
            for _ in range(4):
                # Entries left of what the proxy saw are the client's own words: ignored.
                spoofed = {"X-Forwarded-For": f"{_ip()}, {client_ip}"}
                assert (await http.get("/api/v1/country", headers=spoofed)).status_code == 200
            refused = await http.get("/api/v1/country", headers={"X-Forwarded-For": client_ip})
            assert refused.status_code == 429
            other = await http.get("/api/v1/country", headers={"X-Forwarded-For": _ip()})
            assert other.status_code == 200
    finally:
        direct.stop()
        behind.stop()


async def test_redis_unavailable_refuses_requests_with_503(
    keys: Keys, upstreams: Any, stack: Any, make_token: Any
) -> None:
    settings = gateway_settings(
        keys, stack, upstream_urls(upstreams), redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    server = ThreadedServer(create_app(settings)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            for headers in ({}, bearer(make_token())):
                resp = await http.get("/api/v1/country", headers=headers)
                assert resp.status_code == 503
                assert resp.json()["error"] == "service_unavailable"
    finally:
        server.stop()
