"""The web console through the gateway, driven like a browser without one (cookies and forms).

Sessions live in the platform's real Redis, the tokens come from the real auth service: the
tests read Redis and auth's tables only to check what a browser cannot see (where the tokens
are, which IP a sign-in was counted against, how often a refresh token was rotated).
"""

from __future__ import annotations

import asyncio
import re
import time

import psycopg
import pytest
from redis.asyncio import Redis

from knowrithm_console.web import NAV

from .accounts import PASSWORD, mail_token, sign_up
from .conftest import projections_caught_up
from .console import (
    COOKIE,
    browser,
    csrf_of,
    expire_access_token,
    form,
    new_member,
    session_key,
    sign_in,
    stored_session,
)
from .knowledge import trained_agent, upload, wait_documents

pytestmark = pytest.mark.e2e

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)


@pytest.fixture
async def redis(platform):
    client = Redis.from_url(platform.env["REDIS_URL"])
    yield client
    await client.aclose()


def _refresh_rows(platform, user_id: str) -> list[tuple]:
    with psycopg.connect(platform.env["DATABASE_URL"]) as db:
        return db.execute(
            "SELECT ip, rotated_at, revoked_at FROM auth.refresh_tokens WHERE user_id = %s ORDER BY created_at",
            (user_id,),
        ).fetchall()


async def test_signed_out_visitor_goes_to_the_sign_in_page_with_strict_headers(platform):
    async with browser(platform) as client:
        r = await client.get("/console")
        assert r.status_code == 308 and r.headers["location"] == "/console/"
        r = await client.get("/console/")
        assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"
        r = await client.get("/console/sign-in")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert not INLINE_SCRIPT.search(r.text) and " style=" not in r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/console" in cookie and "Secure" not in cookie  # plain http here; https adds Secure
    assert '<main id="main"' in r.text and 'href="#main"' in r.text


async def test_sign_in_starts_a_new_session_holding_the_tokens_in_redis_only(platform, gateway, redis):
    account = await sign_up(gateway)
    async with browser(platform) as client:
        await client.get("/console/sign-in")
        before = client.cookies[COOKIE]
        await sign_in(client, account.email)
        assert client.cookies[COOKIE] != before  # a new session id: no fixation
        assert await redis.get(session_key(client)) is not None
        assert client.cookies[COOKIE] not in (await redis.keys("console:session:*"))  # stored by hash only
        r = await client.get("/console/")
    assert r.status_code == 200
    assert account.company["name"] in r.text and "Conversations" in r.text and "Needs attention" in r.text
    assert "access_token" not in r.text and "rt_" not in r.text


async def test_a_form_without_its_csrf_token_is_refused_with_a_403_page(platform, gateway):
    account = await sign_up(gateway)
    async with browser(platform) as client:
        await client.get("/console/sign-in")
        r = await client.post("/console/sign-in", data={"email": account.email, "password": PASSWORD})
        assert r.status_code == 403 and "This form has expired" in r.text
        r = await client.post("/console/sign-in", data={"email": account.email, "password": PASSWORD,
                                                        "csrf_token": "forged"})
        assert r.status_code == 403
        await sign_in(client, account.email)
        r = await client.post("/console/sign-out", data={})
        assert r.status_code == 403  # still signed in
        assert (await client.get("/console/")).status_code == 200
        # htmx sends the token as a header (configured on <body> by the base template)
        page = await client.get("/console/")
        r = await client.post("/console/language", data={"language": "de", "back": "/console/"},
                              headers={"X-CSRF-Token": csrf_of(page.text), "HX-Request": "true"})
        assert r.status_code == 204 and r.headers["hx-redirect"] == "/console/"


async def test_a_wrong_password_shows_the_api_error_next_to_the_password_field(platform, gateway):
    account = await sign_up(gateway)
    async with browser(platform) as client:
        r = await form(client, "/console/sign-in", "/console/sign-in",
                       {"email": account.email, "password": "not-the-password"})
    assert r.status_code == 401
    assert '<p class="field-error" id="password-error">Invalid credentials</p>' in r.text
    assert 'aria-invalid="true" autofocus aria-describedby="password-error"' in r.text  # focus on what to fix
    assert f'value="{account.email}"' in r.text  # what was typed stays


async def test_each_persons_sign_in_is_counted_against_their_own_ip(platform, gateway, redis):
    account = await sign_up(gateway)
    for source in ("127.0.0.9", "127.0.0.10"):
        async with browser(platform, source=source) as client:
            await sign_in(client, account.email)
    rows = _refresh_rows(platform, account.user["id"])
    assert [ip for ip, *_ in rows][-2:] == ["127.0.0.9", "127.0.0.10"]  # not the console's 127.0.0.2
    buckets = {k.decode().split(":")[3] for k in await redis.keys("gw:rl:auth:127.0.0.*")}
    assert {"127.0.0.9", "127.0.0.10"} <= buckets and "127.0.0.2" not in buckets


async def test_two_tabs_refreshing_at_once_rotate_the_refresh_token_once_and_stay_signed_in(
    platform, gateway, redis
):
    account = await sign_up(gateway)
    async with browser(platform) as client:
        await sign_in(client, account.email)
        stale = await expire_access_token(redis, client)
        before = len(_refresh_rows(platform, account.user["id"]))
        tabs = await asyncio.gather(*(client.get("/console/") for _ in range(2)))
        assert [r.status_code for r in tabs] == [200, 200], [r.headers.get("location") for r in tabs]
        rows = _refresh_rows(platform, account.user["id"])
        assert len(rows) == before + 1  # one rotation: one new refresh token
        assert all(revoked is None for _, _, revoked in rows)  # no reuse detected, nothing revoked
        fresh = await stored_session(redis, client)
        assert fresh["tokens"]["access_token"] != stale["tokens"]["access_token"]
        assert (await client.get("/console/")).status_code == 200


async def test_a_session_ended_elsewhere_lands_on_the_session_ended_page(platform, gateway, redis):
    account = await sign_up(gateway)
    async with browser(platform) as client:
        await sign_in(client, account.email)
        tokens = (await stored_session(redis, client))["tokens"]
        r = await gateway.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert r.status_code == 200, r.text
        r = await client.get("/console/")
        assert r.status_code == 303 and r.headers["location"] == "/console/session-ended"
        r = await client.get("/console/session-ended")
        assert r.status_code == 200 and "Your session ended" in r.text and 'href="/console/sign-in"' in r.text
        assert (await client.get("/console/")).headers["location"] == "/console/sign-in"


async def test_sign_out_revokes_the_tokens_and_says_so(platform, gateway, redis):
    account = await sign_up(gateway)
    async with browser(platform) as client:
        await sign_in(client, account.email)
        tokens = (await stored_session(redis, client))["tokens"]
        r = await form(client, "/console/", "/console/sign-out", {})
        assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"
        r = await client.get("/console/sign-in")
        assert 'role="status">You are signed out.' in r.text
    r = await gateway.get("/api/v1/auth/user/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert r.status_code == 401


async def test_a_plain_user_sees_their_own_figures_and_only_existing_screens(platform, gateway):
    admin = await sign_up(gateway)
    email = await new_member(gateway, admin)
    async with browser(platform) as client:
        await sign_in(client, email)
        r = await client.get("/console/")
    assert r.status_code == 200 and "Your own activity" in r.text and "<dt>Users</dt>" not in r.text
    # every screen but the admin-only ones (Leads) is for members too
    nav = re.findall(r'<nav aria-label="Main"[^>]*>.*?</nav>', r.text, re.S)[0]
    main = [item for item in NAV if item.section == "main"]  # (the Platform navigation is super admins')
    assert nav.count("<li>") == len([item for item in main if not item.admin_only]) == len(main) - 1
    assert '<nav aria-label="Platform"' not in r.text
    assert "/console/leads" not in nav and "/console/agents" in nav
    admin_screens = [item.path for item in NAV if item.admin_only or item.super_admin_only]
    assert not [path for path in admin_screens if f'href="{path}"' in r.text]


async def test_password_reset_from_the_mailed_link_to_a_new_sign_in(platform, gateway):
    account = await sign_up(gateway)
    async with browser(platform) as client:
        r = await form(client, "/console/forgot-password", "/console/forgot-password", {"email": account.email})
        assert r.status_code == 200 and "is on its way" in r.text
        token = mail_token(platform.mail_dir, account.email)
        r = await client.get(f"/reset-password?token={token}")  # the mailed link, at the gateway's root
        assert r.status_code == 303 and r.headers["location"] == f"/console/reset-password?token={token}"
        page = await client.get(r.headers["location"])
        r = await client.post("/console/reset-password", data={
            "csrf_token": csrf_of(page.text), "token": token, "new_password": "Another-Pass-42",
            "confirm_password": "Another-Pass-41"})
        assert r.status_code == 400 and 'id="confirm_password-error">The two passwords differ.' in r.text
        r = await client.post("/console/reset-password", data={
            "csrf_token": csrf_of(page.text), "token": token, "new_password": "short", "confirm_password": "short"})
        assert r.status_code == 422 and 'id="new_password-error"' in r.text  # the API's rule, next to its field
        r = await client.post("/console/reset-password", data={
            "csrf_token": csrf_of(page.text), "token": token, "new_password": "Another-Pass-42",
            "confirm_password": "Another-Pass-42"})
        assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"
        await sign_in(client, account.email, "Another-Pass-42")


async def test_email_verification_needs_a_click_not_just_opening_the_link(platform, gateway):
    account = await sign_up(gateway)
    token = mail_token(platform.mail_dir, account.email)
    async with browser(platform) as client:
        r = await client.get(f"/verify?token={token}")
        page = await client.get(r.headers["location"])
        assert page.status_code == 200 and "Confirm my address" in page.text
        me = await gateway.get("/api/v1/auth/user/me", headers=account.auth)
        assert me.json()["user"]["email_verified"] is False
        r = await client.post("/console/verify", data={"csrf_token": csrf_of(page.text), "token": token})
        assert r.status_code == 200 and "your e-mail address is confirmed" in r.text
        r = await client.post("/console/verify", data={"csrf_token": csrf_of(page.text), "token": token})
        assert r.status_code == 400 and 'role="alert"' in r.text
    me = await gateway.get("/api/v1/auth/user/me", headers=account.auth)
    assert me.json()["user"]["email_verified"] is True


async def test_pages_speak_the_chosen_or_the_browsers_language(platform, gateway):
    async with browser(platform, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}) as client:
        r = await client.get("/console/sign-in")
        assert '<html lang="de">' in r.text and "<h1 id=\"title\">Anmelden</h1>" in r.text
    async with browser(platform) as client:
        r = await form(client, "/console/sign-in", "/console/language", {"language": "de", "back": "/console/sign-in"})
        assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"
        r = await client.get("/console/sign-in")
        assert "Passwort vergessen?" in r.text
        r = await form(client, "/console/sign-in", "/console/language", {"language": "en", "back": "https://evil.example/"})
        assert r.headers["location"] == "/console/"  # only back to the console


async def test_an_unknown_console_page_is_a_404_page_and_static_files_are_cached(platform):
    async with browser(platform) as client:
        r = await client.get("/console/no-such-screen")
        assert r.status_code == 404 and "There is no page at this address." in r.text
        page = await client.get("/console/sign-in", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in page.headers  # pages hold the CSRF token: never compressed (BREACH)
        script = re.search(r'<script src="([^"]+)"', page.text).group(1)
        r = await client.get(script, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-encoding"] == "gzip" and "htmx" in r.text


async def test_home_points_at_failed_documents_and_new_leads(platform, gateway):
    account, agent_id = await trained_agent(gateway)
    r = await upload(gateway, account, agent_id, [("broken.pdf", b"%PDF-1.7\n" + b"\x00 not a pdf " * 64, "application/pdf")])
    assert r.status_code in (200, 201, 202), r.text
    (document,) = (await wait_documents(gateway, account, [r.json()["documents"][0]["id"]])).values()
    assert document["status"] == "failed"
    body = {"agent_id": agent_id, "first_name": "Lin", "last_name": "Visitor", "email": "lin@example.com",
            "consent_data_processing": True, "source": "e2e"}
    deadline = time.monotonic() + 20
    while (r := await gateway.post("/api/v1/lead/register", json=body)).status_code == 404:
        assert time.monotonic() < deadline, "conversations never learnt of the agent"
        await asyncio.sleep(0.2)
    assert r.status_code == 201, r.text
    await projections_caught_up(platform)
    async with browser(platform) as client:
        await sign_in(client, account.email)
        r = await client.get("/console/")
    assert "1 document could not be processed." in r.text and "1 new lead is waiting for a reply." in r.text
    assert '<span class="badge badge-error">Failed</span>' in r.text  # text on the badge, not colour alone
