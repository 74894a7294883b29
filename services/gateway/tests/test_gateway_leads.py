"""Lead tokens at the gateway: a widget visitor reaches only what declares it, as itself.

The gateway under test runs a test-only operation table (what the conversations service will
declare is its own business): two lead operations, one operation for signed-in callers only,
and one public operation. Lead tokens are minted as conversations will mint them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from redis.asyncio import Redis

from knowrithm_common.leadtokens import LeadTokenClaims, LeadTokenSigner
from knowrithm_common.tokens import COMPANY_DISABLED_KEY, REVOKED_JTI_KEY
from knowrithm_gateway.main import create_app
from knowrithm_gateway.policies import AUTHENTICATED, PUBLIC, USER, OperationTable, declare

from .conftest import (
    Keys,
    ThreadedServer,
    bearer,
    clear_of_window_edge,
    gateway_client,
    gateway_settings,
    upstream_urls,
)

LEAD_PER_MINUTE = 5
CHAT = "/api/v1/conversation/{conversation_id}/chat"
MESSAGES = "/api/v1/conversation/{conversation_id}/messages"
OPERATIONS = (
    *declare(AUTHENTICATED, lead=True, table="""
        POST /conversation/{conversation_id}/chat
        GET  /conversation/{conversation_id}/messages
    """),
    *declare(AUTHENTICATED, table="GET /conversation"),  # the company's conversations: not for a lead
    *declare(PUBLIC, tenant_scoped=False, table="GET /country"),
)


def _pems() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public_pem


LEAD_PRIVATE, LEAD_PUBLIC = _pems()


@pytest.fixture(scope="module")
def lead_gateway_url(keys: Keys, upstreams: dict[str, Any], stack: Any) -> Iterator[str]:
    """A gateway holding the lead-token public key, with the test operation table."""
    settings = gateway_settings(
        keys, stack, upstream_urls(upstreams), knowrithm_lead_token_public_key=LEAD_PUBLIC,
        rate_limit_lead_per_minute=LEAD_PER_MINUTE,
    )
    app = create_app(settings)
    app.state.runtime.operations = OperationTable(OPERATIONS)
    server = ThreadedServer(app).start()
    yield server.url
    server.stop()


leads = gateway_client("lead_gateway_url")


def mint(private_pem: str = LEAD_PRIVATE, *, ttl_seconds: int = 3600) -> tuple[str, LeadTokenClaims]:
    """A fresh lead of a fresh company, as conversations registers one."""
    return LeadTokenSigner(private_pem, ttl_seconds=ttl_seconds).mint(
        lead_id=uuid.uuid4(), company_id=uuid.uuid4(), agent_id=uuid.uuid4(),
        conversation_id=uuid.uuid4(),
    )


def path(template: str, claims: LeadTokenClaims) -> str:
    return template.format(conversation_id=claims.conversation_id)


async def test_lead_token_reaches_a_lead_operation_as_that_lead(leads: httpx.AsyncClient) -> None:
    token, claims = mint()
    resp = await leads.post(path(CHAT, claims), headers=bearer(token), json={"content": "hi"})
    assert resp.status_code == 200, resp.text
    principal = resp.json()["principal"]
    assert principal["kind"] == "lead" and principal["role"] == "lead"
    assert principal["lead_id"] == str(claims.lead_id)
    assert principal["company_id"] == str(claims.company_id)
    assert principal["user_id"] is None and principal["scopes"] == []
    again = await leads.get(path(MESSAGES, claims), headers=bearer(token))  # from the cache
    assert again.json()["principal"]["lead_id"] == str(claims.lead_id)


async def test_lead_token_on_an_operation_not_declaring_leads_gets_403(
    leads: httpx.AsyncClient,
) -> None:
    token, _ = mint()
    declared = await leads.get("/api/v1/conversation", headers=bearer(token))
    undeclared = await leads.get("/api/v1/agent", headers=bearer(token))  # default policy
    for resp in (declared, undeclared):
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"] == "lead_not_allowed"


async def test_lead_token_on_a_public_operation_is_verified_and_passed_along(
    leads: httpx.AsyncClient,
) -> None:
    token, claims = mint()
    resp = await leads.get("/api/v1/country", headers=bearer(token))
    assert resp.status_code == 200
    assert resp.json()["principal"]["lead_id"] == str(claims.lead_id)
    forged, _ = mint(_pems()[0])
    refused = await leads.get("/api/v1/country", headers=bearer(forged))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"


async def test_revoked_lead_token_gets_401_token_revoked(
    leads: httpx.AsyncClient, redis: Redis
) -> None:
    token, claims = mint()
    assert (await leads.get(path(MESSAGES, claims), headers=bearer(token))).status_code == 200
    await redis.set(REVOKED_JTI_KEY.format(jti=claims.jti), "1", ex=60)
    resp = await leads.get(path(MESSAGES, claims), headers=bearer(token))
    assert resp.status_code == 401
    assert resp.json()["error"] == "token_revoked"


async def test_lead_of_a_disabled_company_gets_401_company_disabled(
    leads: httpx.AsyncClient, redis: Redis
) -> None:
    token, claims = mint()
    await redis.set(COMPANY_DISABLED_KEY.format(company_id=claims.company_id), "1", ex=60)
    resp = await leads.get(path(MESSAGES, claims), headers=bearer(token))
    assert resp.status_code == 401
    assert resp.json()["error"] == "company_disabled"


async def test_expired_lead_token_gets_401_token_expired(leads: httpx.AsyncClient) -> None:
    token, claims = mint(ttl_seconds=-60)
    resp = await leads.get(path(MESSAGES, claims), headers=bearer(token))
    assert resp.status_code == 401
    assert resp.json()["error"] == "token_expired"


async def test_lead_token_signed_by_another_key_gets_401_invalid_token(
    leads: httpx.AsyncClient,
) -> None:
    token, claims = mint(_pems()[0])
    resp = await leads.get(path(MESSAGES, claims), headers=bearer(token))
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_token"


async def test_gateway_without_a_lead_key_answers_lead_tokens_with_401(
    client: httpx.AsyncClient,
) -> None:
    token, _ = mint()
    resp = await client.get("/api/v1/country", headers=bearer(token))
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_token"
    assert "no lead-token key" in resp.json()["message"]


async def test_each_lead_has_its_own_rate_limit(leads: httpx.AsyncClient) -> None:
    busy, busy_claims = mint()
    other, other_claims = mint()
    await clear_of_window_edge()
    for _ in range(LEAD_PER_MINUTE):
        ok = await leads.get(path(MESSAGES, busy_claims), headers=bearer(busy))
        assert ok.status_code == 200
    limited = await leads.get(path(MESSAGES, busy_claims), headers=bearer(busy))
    assert limited.status_code == 429
    assert limited.json()["detail"]["limit"] == "lead"
    assert int(limited.headers["Retry-After"]) >= 1
    # another visitor from the same address is not held back by the busy one
    assert (await leads.get(path(MESSAGES, other_claims), headers=bearer(other))).status_code == 200


def test_an_operation_for_users_only_cannot_admit_leads() -> None:
    with pytest.raises(ValueError, match="cannot admit leads"):
        declare(USER, lead=True, table="GET /auth/api-keys")
