"""Helpers for auth tests: a company with its first admin, and the principals the gateway would assert."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx

from knowrithm_common.identity import AssertionSigner, Principal, Role
from knowrithm_common.testing import assertion_headers

PASSWORD = "SecurePass123!"
T = TypeVar("T")


@dataclass
class Account:
    company: dict[str, Any]
    user: dict[str, Any]
    email: str
    password: str
    tokens: dict[str, Any]

    def principal(self, **over: Any) -> Principal:
        base = {"kind": "user", "user_id": self.user["id"], "company_id": self.company["id"],
                "role": Role(self.user["role"])}
        return Principal(**{**base, **over})


async def signup(client: httpx.AsyncClient, signer: AssertionSigner) -> Account:
    """A new company and its first admin, signed in."""
    tag = uuid.uuid4().hex[:10]
    anon = assertion_headers(signer)
    company = (await client.post("/api/v1/company", json={"name": f"Acme {tag}", "email": f"c-{tag}@example.com"},
                                 headers=anon)).json()
    body = {"company_id": company["id"], "email": f"admin-{tag}@example.com", "username": f"admin_{tag}",
            "password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace"}
    r = await client.post("/api/v1/auth/register", json=body, headers=anon)
    assert r.status_code == 201, r.text
    return Account(company, r.json()["user"], body["email"], PASSWORD, r.json())


async def login(client: httpx.AsyncClient, signer: AssertionSigner, address: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": address, "password": password},
                             headers=assertion_headers(signer))


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 10.0) -> T:
    """The first truthy result of `probe()`, asked again and again until `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not (result := await probe()):
        assert time.monotonic() < deadline, f"{probe.__name__} did not come true in {timeout} s"
        await asyncio.sleep(0.02)
    return result


def mails_to(directory: Path, address: str) -> list[email.message.EmailMessage]:
    """Messages the dev mail outbox holds for `address`, oldest first."""
    found = []
    for path in sorted(directory.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            found.append(message)
    return found


def token_in(message: email.message.EmailMessage) -> str:
    """The token of the link a verification or reset mail carries."""
    match = re.search(r"[?&]token=([^\s&]+)", message.get_content())
    assert match is not None, message.get_content()
    return unquote(match.group(1))
