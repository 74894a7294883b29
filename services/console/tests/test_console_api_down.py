"""The console when the API cannot be reached: pages say so (503), nobody is stuck signed in.

The console runs in-process on the stack's real Redis; its API URL points at a port where
nothing listens (the gateway is down), which is the case under test, not a simulation.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from knowrithm_common.testing import running_app
from knowrithm_console.config import ConsoleSettings
from knowrithm_console.main import create_app
from knowrithm_console.sessions import COOKIE, Session, SessionStore, Tokens, User, session_key
from knowrithm_stack.ports import free_port


@pytest.fixture
async def console(stack) -> AsyncIterator[httpx.AsyncClient]:
    settings = ConsoleSettings(
        knowrithm_env="test", redis_url=stack.redis_url, api_url=f"http://127.0.0.1:{free_port()}",
        api_timeout_seconds=2,
    )
    app = create_app(settings)
    async with running_app(app) as client:
        client.app = app  # the test reaches the app's session store through it
        yield client


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def test_sign_in_while_the_api_is_down_answers_a_503_page(console: httpx.AsyncClient) -> None:
    page = await console.get("/console/sign-in")
    r = await console.post("/console/sign-in", data={"csrf_token": _csrf(page.text), "email": "a@example.com",
                                                     "password": "whatever"})
    assert r.status_code == 503 and "Temporarily unavailable" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'")


async def test_sign_out_while_auth_is_down_still_forgets_the_session(console: httpx.AsyncClient) -> None:
    store: SessionStore = console.app.state.sessions
    session = Session(id="s" * 43, csrf="c" * 43,
                      user=User(id="u", email="a@example.com", name="Ada", role="admin"),
                      tokens=Tokens("access", "rt_refresh", time.time() + 600))
    await store.save(session)
    r = await console.post("/console/sign-out", data={"csrf_token": session.csrf},
                           headers={"Cookie": f"{COOKIE}={session.id}"})
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"
    assert await store.redis.get(session_key(session.id)) is None
    fresh = re.match(f"{COOKIE}=([^;]+);", r.headers["set-cookie"]).group(1)
    assert fresh != session.id  # a new signed-out session carries the notice
    r = await console.get("/console/sign-in", headers={"Cookie": f"{COOKIE}={fresh}"})
    assert "You are signed out." in r.text
