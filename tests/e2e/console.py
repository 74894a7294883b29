"""Driving the web console as a browser would, without one: forms, cookies, CSRF tokens."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

import httpx
from redis.asyncio import Redis

from .accounts import PASSWORD, Account

COOKIE = "knowrithm_console"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, html[:500]
    return match.group(1)


def browser(platform, *, source: str | None = None, **options: Any) -> httpx.AsyncClient:
    """A cookie-keeping client on the gateway, connecting from `source` (a loopback address) if given."""
    transport = httpx.AsyncHTTPTransport(local_address=source) if source else None
    return httpx.AsyncClient(base_url=platform.gateway_url, transport=transport, timeout=20,
                             follow_redirects=False, **options)


async def form(client: httpx.AsyncClient, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Open `page`, then send its form to `action` with the page's CSRF token."""
    r = await client.get(page)
    assert r.status_code == 200, r.text
    return await client.post(action, data={"csrf_token": csrf_of(r.text), **data})


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    r = await form(client, "/console/sign-in", "/console/sign-in", {"email": email, "password": password})
    assert r.status_code == 303 and r.headers["location"] == "/console/", r.text
    return r


async def new_member(gateway: httpx.AsyncClient, admin: Account, *, role: str = "user") -> str:
    """A second user of the admin's company; their e-mail (password PASSWORD)."""
    tag = uuid.uuid4().hex[:10]
    body = {"email": f"member-{tag}@example.com", "username": f"member_{tag}", "password": PASSWORD,
            "first_name": "Ada", "last_name": "Lovelace", "role": role}
    r = await gateway.post("/api/v1/auth/user", json=body, headers=admin.auth)
    assert r.status_code == 201, r.text
    return body["email"]


def session_key(client: httpx.AsyncClient) -> str:
    return "console:session:" + hashlib.sha256(client.cookies[COOKIE].encode()).hexdigest()


async def stored_session(redis: Redis, client: httpx.AsyncClient) -> dict[str, Any]:
    raw = await redis.get(session_key(client))
    assert raw is not None, "the session is not in Redis"
    return json.loads(raw)


async def expire_access_token(redis: Redis, client: httpx.AsyncClient) -> dict[str, Any]:
    """Make the console see its access token as expired (as after 15 minutes); the stored session."""
    data = await stored_session(redis, client)
    data["tokens"]["expires_at"] = 0
    ttl = await redis.ttl(session_key(client))
    await redis.set(session_key(client), json.dumps(data), ex=max(ttl, 60))
    return data


async def sign_in_page(page: Any, console: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the console's form in a real browser page; wait for Home."""
    await page.goto(console + "/sign-in")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(console + "/")
