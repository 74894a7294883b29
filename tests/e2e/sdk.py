"""The official Knowrithm Python SDK (`knowrithm-py`, pinned in the root pyproject) as a client.

Every SDK client here uses the SDK's default `KnowrithmConfig` except `base_url`, which must
point at our gateway: `<gateway>/api` (the SDK appends `/v1`, so its requests go to
`<gateway>/api/v1/...` exactly as they would to the hosted platform). The SDK is synchronous
(requests), so SDK tests are plain synchronous tests. A tenant (company, first admin, API key)
is set up over plain HTTP with the same bodies as the async helpers in accounts.py; everything
the tests then assert goes through the SDK.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from knowrithm_py.dataclass.config import KnowrithmConfig
from knowrithm_py.knowrithm.client import KnowrithmClient

from .accounts import Account, account_of, company_body, owner_body

ALL_SCOPES = ["read", "write", "update", "delete", "admin"]


def sdk_config(gateway_url: str, **overrides: Any) -> KnowrithmConfig:
    """The SDK's default configuration, pointed at our gateway."""
    return KnowrithmConfig(base_url=f"{gateway_url.rstrip('/')}/api", **overrides)


def sdk_client(gateway_url: str, api_key: str = "", api_secret: str = "", **overrides: Any) -> KnowrithmClient:
    """A KnowrithmClient as a user would build it (no key: for public and JWT-only calls)."""
    return KnowrithmClient(api_key=api_key, api_secret=api_secret, config=sdk_config(gateway_url, **overrides))


@dataclass
class SdkTenant(Account):
    """A company with a signed-in admin and an API key of every scope, used through the SDK."""

    api_key: str
    api_secret: str
    api_key_id: str
    client: KnowrithmClient

    @property
    def bearer(self) -> dict[str, str]:
        """Headers for the SDK's JWT-only calls (`headers=` on the SDK method)."""
        return self.auth


def new_tenant(gateway_url: str, *, scopes: list[str] | None = None) -> SdkTenant:
    """A new company, its first admin and an API key, created through the gateway."""
    tag = uuid.uuid4().hex[:10]
    with httpx.Client(base_url=gateway_url, timeout=30) as http:
        r = http.post("/api/v1/company", json=company_body(tag))
        assert r.status_code == 201, r.text
        company = r.json()
        body = owner_body(tag, company["id"])
        r = http.post("/api/v1/auth/register", json=body)
        assert r.status_code == 201, r.text
        account = account_of(company, body, r.json())
        r = http.post("/api/v1/auth/api-keys", json={"name": "sdk", "scopes": scopes or ALL_SCOPES},
                      headers=account.auth)
        assert r.status_code == 201, r.text
        key = r.json()
    return SdkTenant(
        **vars(account), api_key=key["api_key"], api_secret=key["api_secret"],
        api_key_id=key["details"]["id"], client=sdk_client(gateway_url, key["api_key"], key["api_secret"]),
    )


def super_admin_bearer(gateway_url: str, env: dict[str, str]) -> dict[str, str]:
    """The bootstrap super admin's Authorization header."""
    creds = {"email": env["SUPER_ADMIN_EMAIL"], "password": env["SUPER_ADMIN_PASSWORD"]}
    with httpx.Client(base_url=gateway_url, timeout=30) as http:
        r = http.post("/api/v1/auth/login", json=creds)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
