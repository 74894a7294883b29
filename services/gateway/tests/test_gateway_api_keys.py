"""API keys through the gateway: resolved at auth, cached in Redis, refused the moment they go."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import nats
import pytest
from redis.asyncio import Redis

from knowrithm_common.events import new_event
from knowrithm_common.events.auth import ApiKeyRevokedV1
from knowrithm_common.tokens import API_KEY_CACHE_KEY, COMPANY_DISABLED_KEY, REVOKED_JTI_KEY
from knowrithm_gateway.main import create_app

from .conftest import IssuedKey, Keys, ThreadedServer, bearer, gateway_settings, upstream_urls


def _cache_key(key: IssuedKey) -> str:
    return API_KEY_CACHE_KEY.format(key_hash=key.key_hash)


async def test_api_key_reaches_service_as_its_principal_without_the_secret(
    client: httpx.AsyncClient, make_api_key: Any
) -> None:
    key = make_api_key(scopes=("read", "documents:write"), role="user")
    resp = await client.get("/api/v1/agent", headers=key.headers)
    assert resp.status_code == 200, resp.text
    echo = resp.json()
    record = key.record
    assert echo["principal"] == {
        "kind": "api_key", "company_id": str(record.company_id), "user_id": str(record.user_id),
        "role": "user", "scopes": ["read", "documents:write"], "api_key_id": str(record.id),
        "lead_id": None, "impersonator_id": None,
    }
    # The gateway checked the credentials; services get the assertion, never the secret.
    assert "x-api-secret" not in echo["headers"]
    assert "x-api-key" not in echo["headers"]


async def test_api_key_is_resolved_once_then_served_from_the_cache(
    client: httpx.AsyncClient, make_api_key: Any, upstreams: dict[str, Any], redis: Redis
) -> None:
    auth = upstreams["auth"][0]
    key = make_api_key()
    results = await asyncio.gather(
        *(client.get("/api/v1/agent", headers=key.headers) for _ in range(5))
    )
    assert [r.status_code for r in results] == [200] * 5
    for _ in range(3):
        assert (await client.get("/api/v1/agent", headers=key.headers)).status_code == 200
    assert auth.resolved.count(key.key_hash) == 1
    ttl = await redis.ttl(_cache_key(key))
    assert 0 < ttl <= 300


async def test_wrong_secret_returns_401_invalid_api_key(
    client: httpx.AsyncClient, make_api_key: Any
) -> None:
    key = make_api_key()
    assert (await client.get("/api/v1/agent", headers=key.headers)).status_code == 200
    wrong = {"X-API-Key": key.api_key, "X-API-Secret": key.api_secret + "x"}
    resp = await client.get("/api/v1/agent", headers=wrong)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_api_key"


async def test_unknown_api_key_returns_401_invalid_api_key(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/api/v1/agent", headers={"X-API-Key": "ak_made-up", "X-API-Secret": "as_made-up"}
    )
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_api_key"


async def test_expired_api_key_returns_401_api_key_expired(
    client: httpx.AsyncClient, make_api_key: Any
) -> None:
    key = make_api_key(expires_at=time.time() - 5)
    resp = await client.get("/api/v1/agent", headers=key.headers)
    assert resp.status_code == 401
    assert resp.json()["error"] == "api_key_expired"


async def test_only_half_of_the_api_key_credentials_returns_401(
    client: httpx.AsyncClient, make_api_key: Any
) -> None:
    key = make_api_key()
    for headers in ({"X-API-Key": key.api_key}, {"X-API-Secret": key.api_secret}):
        # Even on a public route: half a credential is a mistake, not an anonymous call.
        resp = await client.get("/api/v1/country", headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"] == "invalid_api_key"


async def test_revoked_api_key_is_refused_on_the_next_request(
    client: httpx.AsyncClient, make_api_key: Any, upstreams: dict[str, Any], redis: Redis
) -> None:
    key = make_api_key()
    for _ in range(3):  # cached in Redis and in the gateway process by now
        assert (await client.get("/api/v1/agent", headers=key.headers)).status_code == 200
    # What auth does on revocation: the row is revoked, then the cache entry is deleted.
    del upstreams["auth"][0].api_keys[key.key_hash]
    await redis.delete(_cache_key(key))
    resp = await client.get("/api/v1/agent", headers=key.headers)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_api_key"


async def test_revocation_event_drops_the_cached_key_on_every_gateway(
    client: httpx.AsyncClient, make_api_key: Any, upstreams: dict[str, Any], redis: Redis,
    stack: Any,
) -> None:
    key = make_api_key()
    assert (await client.get("/api/v1/agent", headers=key.headers)).status_code == 200
    assert await redis.exists(_cache_key(key))
    # Revoked at auth, but its cache entry survived (a resolve raced the revocation).
    del upstreams["auth"][0].api_keys[key.key_hash]
    event = ApiKeyRevokedV1(
        api_key_id=key.record.id, company_id=key.record.company_id, key_hash=key.key_hash
    )
    connection = await nats.connect(stack.nats_url)
    try:
        deadline = time.monotonic() + 10
        while await redis.exists(_cache_key(key)) and time.monotonic() < deadline:
            envelope = new_event(event, source="auth", company_id=key.record.company_id)
            await connection.jetstream().publish(
                event.subject(), envelope.model_dump_json().encode(),
                headers={"Nats-Msg-Id": envelope.id},
            )
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    assert not await redis.exists(_cache_key(key))
    resp = await client.get("/api/v1/agent", headers=key.headers)
    assert resp.status_code == 401


async def test_record_rewritten_in_redis_takes_effect_on_the_next_request(
    client: httpx.AsyncClient, make_api_key: Any, redis: Redis
) -> None:
    key = make_api_key(scopes=("read", "write"))
    assert (await client.post("/api/v1/agent", headers=key.headers)).status_code == 200
    narrowed = key.record.model_copy(update={"scopes": ["read"]})
    await redis.set(_cache_key(key), narrowed.model_dump_json(), ex=300)
    resp = await client.post("/api/v1/agent", headers=key.headers)
    assert resp.status_code == 403
    assert resp.json()["error"] == "insufficient_scope"


async def test_disabled_company_refuses_its_api_keys_and_tokens(
    client: httpx.AsyncClient, make_api_key: Any, make_token: Any, redis: Redis
) -> None:
    company_id = uuid.uuid4()
    key = make_api_key(company_id=company_id)
    token = make_token(company_id=str(company_id))
    assert (await client.get("/api/v1/agent", headers=key.headers)).status_code == 200
    assert (await client.get("/api/v1/agent", headers=bearer(token))).status_code == 200
    await redis.set(COMPANY_DISABLED_KEY.format(company_id=company_id), "1", ex=600)
    for headers in (key.headers, bearer(token)):
        resp = await client.get("/api/v1/agent", headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"] == "company_disabled"
    other = make_api_key()  # another company is untouched
    assert (await client.get("/api/v1/agent", headers=other.headers)).status_code == 200


async def test_auth_unreachable_for_an_uncached_key_returns_503(
    authless_gateway_url: str, make_api_key: Any
) -> None:
    key = make_api_key()
    async with httpx.AsyncClient(base_url=authless_gateway_url) as http:
        resp = await http.get("/api/v1/agent", headers=key.headers)
    assert resp.status_code == 503
    assert json.loads(resp.text)["error"] == "service_unavailable"


async def test_concurrent_mixed_credentials_each_get_their_own_verdict(
    client: httpx.AsyncClient, make_token: Any, make_api_key: Any, redis: Redis
) -> None:
    # Concurrent requests share one Redis call: each must still get its own answer.
    revoked_jti, disabled_company = uuid.uuid4().hex, uuid.uuid4()
    good_key, disabled_key = make_api_key(), make_api_key(company_id=disabled_company)
    for key in (good_key, disabled_key):  # cached, so the shared call checks their records
        assert (await client.get("/api/v1/agent", headers=key.headers)).status_code == 200
    await redis.set(REVOKED_JTI_KEY.format(jti=revoked_jti), "1", ex=600)
    await redis.set(COMPANY_DISABLED_KEY.format(company_id=disabled_company), "1", ex=600)
    cases = [
        (bearer(make_token()), 200),
        (bearer(make_token(jti=revoked_jti)), 401),
        (good_key.headers, 200),
        (disabled_key.headers, 401),
        ({}, 401),
    ] * 8
    random.shuffle(cases)
    responses = await asyncio.gather(
        *(client.get("/api/v1/agent", headers=headers) for headers, _ in cases)
    )
    assert [r.status_code for r in responses] == [status for _, status in cases]


async def test_empty_api_key_headers_are_no_credentials(client: httpx.AsyncClient) -> None:
    # The official SDK built without a key sends both headers empty on every call.
    empty = {"X-API-Key": "", "X-API-Secret": ""}
    resp = await client.get("/api/v1/country", headers=empty)
    assert resp.status_code == 200, resp.text
    assert resp.json()["principal"]["kind"] == "anonymous"
    resp = await client.get("/api/v1/agent", headers=empty)
    assert resp.status_code == 401
    assert resp.json()["error"] == "unauthorized"


async def test_bearer_token_wins_over_api_key_headers(
    client: httpx.AsyncClient, make_token: Any, make_api_key: Any
) -> None:
    user_id = str(uuid.uuid4())
    token = make_token(sub=user_id)
    key = make_api_key(scopes=("read",))
    made_up = {"X-API-Key": "ak_made-up", "X-API-Secret": "as_made-up"}
    for key_headers in (key.headers, made_up):
        resp = await client.get("/api/v1/agent", headers={**bearer(token), **key_headers})
        assert resp.status_code == 200, resp.text
        echo = resp.json()
        assert echo["principal"]["kind"] == "user"
        assert echo["principal"]["user_id"] == user_id
        assert echo["principal"]["api_key_id"] is None
        assert "x-api-key" not in echo["headers"]
    # A JWT-only operation works with the key headers along (as the SDK sends them).
    resp = await client.get("/api/v1/auth/api-keys", headers={**bearer(token), **key.headers})
    assert resp.status_code == 200, resp.text


async def test_refresh_with_api_key_headers_is_judged_by_its_refresh_token(
    client: httpx.AsyncClient,
) -> None:
    # The refresh token in Authorization is auth's to check; stale key headers beside it
    # (an SDK session whose key was revoked) do not turn the refresh into a 401.
    headers = {"Authorization": "Bearer rt_opaque", "X-API-Key": "ak_revoked", "X-API-Secret": "as_x"}
    resp = await client.post("/api/v1/auth/refresh", headers=headers)
    assert resp.status_code == 200, resp.text
    echo = resp.json()
    assert echo["principal"]["kind"] == "anonymous"
    assert echo["headers"]["authorization"] == "Bearer rt_opaque"


LOCKOUT_SECONDS = 2.0


@pytest.fixture(scope="module")
def throttling_gateway_url(keys: Keys, upstreams: dict[str, Any], stack: Any) -> Iterator[str]:
    """A gateway that locks a key after 3 wrong secrets, for 2 seconds."""
    settings = gateway_settings(
        keys, stack, upstream_urls(upstreams),
        api_key_max_failed_secrets=3, api_key_lockout_minutes=LOCKOUT_SECONDS / 60,
    )
    server = ThreadedServer(create_app(settings)).start()
    yield server.url
    server.stop()


async def test_repeated_wrong_secrets_lock_the_key_id_with_429_until_the_window_passes(
    throttling_gateway_url: str, make_api_key: Any
) -> None:
    key, other = make_api_key(), make_api_key()
    wrong = {"X-API-Key": key.api_key, "X-API-Secret": key.api_secret + "x"}
    async with httpx.AsyncClient(base_url=throttling_gateway_url, timeout=10) as client:
        first = [await client.get("/api/v1/agent", headers=wrong) for _ in range(2)]
        locking = await client.get("/api/v1/agent", headers=wrong)
        locked_at = time.monotonic()
        right = await client.get("/api/v1/agent", headers=key.headers)
        untouched = await client.get("/api/v1/agent", headers=other.headers)
        assert [r.json()["error"] for r in first] == ["invalid_api_key"] * 2
        for refused in (locking, right):
            assert refused.status_code == 429 and refused.json()["error"] == "api_key_locked"
            assert 1 <= int(refused.headers["retry-after"]) <= LOCKOUT_SECONDS
        assert untouched.status_code == 200  # the lock is the key id's, no one else's
        while (resp := await client.get("/api/v1/agent", headers=key.headers)).status_code == 429:
            assert time.monotonic() - locked_at < LOCKOUT_SECONDS + 5
            await asyncio.sleep(0.1)
    assert resp.status_code == 200
    assert time.monotonic() - locked_at >= LOCKOUT_SECONDS - 0.5
