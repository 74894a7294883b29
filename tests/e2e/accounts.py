"""Accounts for end-to-end tests, created the way a user would: through the gateway."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

PASSWORD = "SecurePass123!"


@dataclass
class Account:
    company: dict[str, Any]
    user: dict[str, Any]
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def company_body(tag: str) -> dict[str, str]:
    """A new company's sign-up body."""
    return {"name": f"Acme {tag}", "email": f"hello-{tag}@example.com"}


def owner_body(tag: str, company_id: str) -> dict[str, str]:
    """The registration body of a company's first admin."""
    return {"company_id": company_id, "email": f"owner-{tag}@example.com", "username": f"owner_{tag}",
            "password": PASSWORD, "first_name": "Grace", "last_name": "Hopper"}


def account_of(company: dict[str, Any], body: dict[str, str], tokens: dict[str, Any]) -> Account:
    """The account a registration answered."""
    return Account(company, tokens["user"], body["email"], body["password"], tokens["access_token"],
                   tokens["refresh_token"])


async def sign_up(gateway: httpx.AsyncClient) -> Account:
    """A company, its first admin registered and signed in."""
    tag = uuid.uuid4().hex[:10]
    r = await gateway.post("/api/v1/company", json=company_body(tag))
    assert r.status_code == 201, r.text
    company = r.json()
    body = owner_body(tag, company["id"])
    r = await gateway.post("/api/v1/auth/register", json=body)
    assert r.status_code == 201, r.text
    return account_of(company, body, r.json())


async def api_key(gateway: httpx.AsyncClient, account: Account, **body: Any) -> dict[str, str]:
    """Headers of a new API key of `account`."""
    r = await gateway.post("/api/v1/auth/api-keys", json={"name": "e2e", **body}, headers=account.auth)
    assert r.status_code == 201, r.text
    created = r.json()
    return {"X-API-Key": created["api_key"], "X-API-Secret": created["api_secret"], "id": created["details"]["id"]}


def key_headers(key: dict[str, str]) -> dict[str, str]:
    return {"X-API-Key": key["X-API-Key"], "X-API-Secret": key["X-API-Secret"]}


def mail_token(mail_dir: Path, address: str) -> str:
    """The token in the newest mail to `address` in the dev mail outbox."""
    for path in sorted(mail_dir.glob("*.eml"), reverse=True):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            match = re.search(r"[?&]token=([^\s&]+)", message.get_content())
            assert match is not None
            return unquote(match.group(1))
    raise AssertionError(f"no mail to {address} in {mail_dir}")


async def offline_settings(gateway: httpx.AsyncClient, account: Account, **extra: Any) -> dict:
    """Company settings on the built-in offline provider (chat and embedding), created by `account`.

    No super admin step: the catalogue is there from the platform's first start.
    """
    r = await gateway.get("/api/v1/providers?include_models=true", headers=account.auth)
    assert r.status_code == 200, r.text
    providers = r.json()["providers"]
    (offline,) = [p for p in providers if p["value"] == "offline"]
    models = {m["name"]: m["id"] for m in offline["models"]}
    body = {"llm_provider_id": offline["id"], "llm_model_id": models["extractive-responder"],
            "embedding_provider_id": offline["id"], "embedding_model_id": models["offline-embedder"], **extra}
    r = await gateway.post("/api/v1/settings", json=body, headers=account.auth)
    assert r.status_code == 201, r.text
    return r.json()


async def super_admin_login(gateway: httpx.AsyncClient, env: dict[str, str]) -> str:
    creds = {"email": env["SUPER_ADMIN_EMAIL"], "password": env["SUPER_ADMIN_PASSWORD"]}
    r = await gateway.post("/api/v1/auth/login", json=creds)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])
