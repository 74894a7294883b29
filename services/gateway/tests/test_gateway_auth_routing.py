"""Routing to the owning service and who the services are told is calling."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from redis.asyncio import Redis

from knowrithm_common.tokens import REVOKED_JTI_KEY, REVOKED_SESSION_KEY, VALID_AFTER_KEY, public_jwk


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ROUTED = [
    ("GET", "/api/v1/auth/user/me", "auth"),
    ("POST", "/api/v1/auth/login", "auth"),
    ("GET", "/api/v1/user/profile", "auth"),
    ("GET", "/api/v1/admin/user/42", "auth"),
    ("GET", "/api/v1/super-admin/company", "auth", "super_admin"),
    ("GET", "/api/v1/super-admin/company/c1/user", "auth", "super_admin"),
    ("GET", "/api/v1/super-admin/company/c1/system-metric", "analytics"),
    ("GET", "/api/v1/company/statistics", "analytics"),
    ("GET", "/api/v1/company/c1/statistics", "analytics"),
    ("GET", "/api/v1/agent/a1/stats", "analytics"),
    ("POST", "/api/v1/webhook", "analytics"),
    ("GET", "/api/v1/company/c1/related-data", "auth", "super_admin"),
    ("POST", "/api/v1/address", "auth"),
    ("GET", "/api/v1/country/1", "auth"),
    ("GET", "/api/v1/state/country/1", "auth"),
    ("GET", "/api/v1/city/state/1", "auth"),
    ("GET", "/api/v1/agent", "agents"),
    ("POST", "/api/v1/agent/a1/clone", "agents"),
    ("GET", "/api/v1/sdk/agent/a1", "agents"),
    ("GET", "/api/v1/settings/agent/a1", "agents"),
    ("GET", "/api/v1/providers/p1/models", "agents"),
    ("POST", "/api/v1/conversation/c1/chat", "conversations"),
    ("DELETE", "/api/v1/message/m1", "conversations"),
    ("POST", "/api/v1/lead/register", "conversations"),
    ("GET", "/api/v1/sdk/lead/l1", "conversations"),
    ("POST", "/api/v1/test", "conversations"),
    ("POST", "/api/v1/document/upload", "ingestion"),
    ("POST", "/api/v1/search/document", "ingestion"),
    ("GET", "/api/v1/website/source/s1/pages", "ingestion"),
    ("POST", "/api/v1/sdk/website/source/s1/crawl", "ingestion"),
    ("PATCH", "/api/v1/database-connection/d1", "ingestion"),
    ("GET", "/api/v1/sdk/database/d1", "ingestion"),
    ("GET", "/api/v1/analytic/dashboard", "analytics"),
    ("GET", "/api/v1/overview", "analytics"),
    ("GET", "/api/v1/usage-trends", "analytics"),
    ("GET", "/api/v1/top-endpoints", "analytics"),
    ("GET", "/api/v1/api-key-performance", "analytics"),
    ("GET", "/api/v1/error-analysis", "analytics"),
    ("GET", "/api/v1/rate-limit-analysis", "analytics"),
    ("GET", "/api/v1/detailed-usage/k1", "analytics"),
    ("POST", "/api/v1/system-metric", "analytics"),
    ("GET", "/api/v1/admin/system-metric", "analytics"),
    ("GET", "/api/v1/audit-log", "analytics"),
]


@pytest.mark.parametrize(("method", "path", "service", "role"), [(*r, "admin")[:4] for r in ROUTED])
async def test_route_reaches_owning_service_with_verified_principal(
    client: httpx.AsyncClient, make_token: Any, method: str, path: str, service: str, role: str
) -> None:
    user_id = uuid.uuid4()
    company_id = None if role == "super_admin" else uuid.uuid4()
    token = make_token(
        sub=str(user_id), company_id=str(company_id) if company_id else None, role=role
    )
    resp = await client.request(method, path + "?page=2&q=a%20b", headers=bearer(token))
    assert resp.status_code == 200, resp.text
    echo = resp.json()
    assert echo["service"] == service
    assert (echo["method"], echo["path"], echo["query"]) == (method, path, "page=2&q=a%20b")
    principal = echo["principal"]
    assert principal["kind"] == "user"
    assert principal["user_id"] == str(user_id)
    assert principal.get("company_id") == (str(company_id) if company_id else None)
    assert principal["role"] == role
    assert principal["scopes"] == ["read"]
    assert echo["headers"]["x-request-id"] == resp.headers["x-request-id"]


async def test_impersonation_claim_reaches_service_as_impersonator_id(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    admin_id = uuid.uuid4()
    token = make_token(imp=str(admin_id), role="user")
    resp = await client.get("/api/v1/auth/user/me", headers=bearer(token))
    assert resp.json()["principal"]["impersonator_id"] == str(admin_id)


@pytest.mark.parametrize("path", ["/widget.js", "/api/v1/widget.js"])  # the embed code's, the SDK's
async def test_widget_script_reaches_conversations_without_credentials(client: httpx.AsyncClient, path: str) -> None:
    resp = await client.get(path)
    assert resp.status_code == 200
    assert resp.json()["service"] == "conversations" and resp.json()["path"] == path


async def test_unknown_api_path_returns_404_in_shared_shape(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/nothing-here", "/api/v2/agent", "/api/v1/agents", "/api/v1/tasks/x"):
        resp = await client.get(path)
        assert resp.status_code == 404, path
        body = resp.json()
        assert body["success"] is False and body["error"] == "not_found"
        assert body["message"]


async def test_missing_credentials_forward_anonymous_principal(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/auth/login", json={"email": "a@b.c"})
    assert resp.json()["principal"]["kind"] == "anonymous"


async def test_forged_assertion_header_is_replaced_by_the_gateway(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.get("/api/v1/country", headers={"X-Knowrithm-Assertion": "forged"})
    assert resp.status_code == 200
    assert resp.json()["principal"]["kind"] == "anonymous"


async def test_expired_token_returns_401_token_expired(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    now = int(time.time())
    token = make_token(iat=now - 3600, exp=now - 60)
    resp = await client.get("/api/v1/agent", headers=bearer(token))
    assert resp.status_code == 401
    assert resp.json()["error"] == "token_expired"
    assert resp.json()["success"] is False


@pytest.mark.parametrize(
    "case",
    ["garbage", "wrong_key", "wrong_audience", "refresh_type", "unknown_role", "basic_scheme"],
)
async def test_bad_token_returns_401_invalid_token(
    client: httpx.AsyncClient, make_token: Any, case: str
) -> None:
    headers = {
        "garbage": bearer("not.a.jwt"),
        "wrong_key": bearer(make_token(key=Ed25519PrivateKey.generate())),
        "wrong_audience": bearer(make_token(aud="someone-else")),
        "refresh_type": bearer(make_token(typ="refresh")),
        "unknown_role": bearer(make_token(role="emperor")),
        "basic_scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
    }[case]
    resp = await client.get("/api/v1/agent", headers=headers)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "invalid_token"


async def test_revoked_jti_returns_401(
    client: httpx.AsyncClient, make_token: Any, redis: Redis
) -> None:
    jti = uuid.uuid4().hex
    token = make_token(jti=jti)
    assert (await client.get("/api/v1/agent", headers=bearer(token))).status_code == 200
    await redis.set(REVOKED_JTI_KEY.format(jti=jti), "1", ex=600)
    resp = await client.get("/api/v1/agent", headers=bearer(token))
    assert resp.status_code == 401
    assert resp.json()["error"] == "token_revoked"


async def test_signed_out_session_refuses_every_token_of_it(
    client: httpx.AsyncClient, make_token: Any, redis: Redis
) -> None:
    session_id, user_id = uuid.uuid4(), str(uuid.uuid4())
    first = make_token(sid=str(session_id), sub=user_id)
    second = make_token(sid=str(session_id), sub=user_id)  # refreshed within the session
    other = make_token(sid=str(uuid.uuid4()), sub=user_id)  # the same user on another device
    assert (await client.get("/api/v1/agent", headers=bearer(first))).status_code == 200
    await redis.set(REVOKED_SESSION_KEY.format(sid=session_id), "1", ex=600)
    for token in (first, second):
        resp = await client.get("/api/v1/agent", headers=bearer(token))
        assert resp.status_code == 401
        assert resp.json()["error"] == "token_revoked"
    assert (await client.get("/api/v1/agent", headers=bearer(other))).status_code == 200


async def test_concurrent_requests_each_get_their_own_revocation_verdict(
    client: httpx.AsyncClient, make_token: Any, redis: Redis
) -> None:
    # Lookups of concurrent requests share Redis round trips: verdicts must not mix up.
    jtis = [uuid.uuid4().hex for _ in range(40)]
    revoked = set(jtis[::3])
    for jti in revoked:
        await redis.set(REVOKED_JTI_KEY.format(jti=jti), "1", ex=600)
    tokens = {jti: make_token(jti=jti) for jti in jtis}
    responses = await asyncio.gather(
        *(client.get("/api/v1/agent", headers=bearer(tokens[jti])) for jti in jtis)
    )
    for jti, resp in zip(jtis, responses, strict=True):
        assert resp.status_code == (401 if jti in revoked else 200), jti


async def test_revocation_applies_to_a_token_already_seen(
    client: httpx.AsyncClient, make_token: Any, redis: Redis
) -> None:
    user_id = uuid.uuid4()
    token = make_token(sub=str(user_id), iat=int(time.time()) - 30)
    for _ in range(3):  # verified and its assertion cached by now
        assert (await client.get("/api/v1/agent", headers=bearer(token))).status_code == 200
    await redis.set(VALID_AFTER_KEY.format(user_id=user_id), str(int(time.time())), ex=600)
    assert (await client.get("/api/v1/agent", headers=bearer(token))).status_code == 401


async def test_token_issued_before_valid_after_returns_401(
    client: httpx.AsyncClient, make_token: Any, redis: Redis
) -> None:
    user_id = uuid.uuid4()
    now = int(time.time())
    old = make_token(sub=str(user_id), iat=now - 100)
    fresh = make_token(sub=str(user_id), iat=now)
    await redis.set(VALID_AFTER_KEY.format(user_id=user_id), str(now - 10), ex=600)
    resp = await client.get("/api/v1/agent", headers=bearer(old))
    assert resp.status_code == 401
    assert resp.json()["error"] == "token_revoked"
    assert (await client.get("/api/v1/agent", headers=bearer(fresh))).status_code == 200


async def test_token_while_auth_keys_are_unreachable_returns_503_not_401(
    authless_gateway_url: str, make_token: Any
) -> None:
    # A 401 would make clients drop a good token; the outage is ours, not theirs.
    async with httpx.AsyncClient(base_url=authless_gateway_url) as http:
        for _ in range(2):  # the second request falls inside the refetch interval
            resp = await http.get("/api/v1/agent", headers=bearer(make_token()))
            assert resp.status_code == 503
            assert resp.json()["error"] == "service_unavailable"
        anonymous = await http.get("/widget.js")  # a public route of a service that is up
    assert anonymous.status_code == 200


async def test_token_from_rotated_key_is_accepted_after_jwks_refetch(
    client: httpx.AsyncClient, make_token: Any, upstreams: dict[str, Any]
) -> None:
    auth_state = upstreams["auth"][0]
    new_key = Ed25519PrivateKey.generate()
    token = make_token(key=new_key)
    assert (await client.get("/api/v1/agent", headers=bearer(token))).status_code == 401
    auth_state.jwks.append(public_jwk(new_key.public_key()))
    try:
        resp = await client.get("/api/v1/agent", headers=bearer(token))
        assert resp.status_code == 200
        assert resp.json()["principal"]["kind"] == "user"
    finally:
        auth_state.jwks.pop()


def test_every_service_in_the_route_table_has_an_upstream() -> None:
    # A typo in the table would otherwise surface as a 500 on that route only.
    from knowrithm_gateway.config import GatewaySettings
    from knowrithm_gateway.routing import RouteTable

    upstreams = GatewaySettings(knowrithm_env="development").upstreams()
    assert RouteTable().services() <= set(upstreams)
