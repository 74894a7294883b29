"""Admins list a user's live sign-in sessions and sign one out (lane keys)."""

import jwt

from knowrithm_common.testing import assertion_headers
from knowrithm_common.tokens import REVOKED_SESSION_KEY

from .support import login, signup


def _sid(token):
    return jwt.decode(token, options={"verify_signature": False})["sid"]


def _as_admin(signer, account, token=None):
    headers = assertion_headers(signer, account.principal())
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def test_sessions_list_each_sign_in_with_address_agent_and_the_callers_own(client, signer):
    a = await signup(client, signer)
    second = await client.post("/api/v1/auth/login", json={"email": a.email, "password": a.password},
                               headers={**assertion_headers(signer), "User-Agent": "Firefox/140 test",
                                        "X-Forwarded-For": "203.0.113.7"})
    assert second.status_code == 200, second.text
    r = await client.get(f"/api/v1/admin/user/{a.user['id']}/sessions",
                         headers=_as_admin(signer, a, a.tokens["access_token"]))
    assert r.status_code == 200, r.text
    sessions = r.json()["sessions"]
    assert len(sessions) == 2
    newest, first = sessions
    assert newest["id"] == _sid(second.json()["access_token"]) and newest["current"] is False
    assert newest["user_agent"] == "Firefox/140 test"
    assert first["id"] == _sid(a.tokens["access_token"]) and first["current"] is True


async def test_signing_a_session_out_ends_its_refresh_and_access_tokens_only(client, signer):
    a = await signup(client, signer)
    other = (await login(client, signer, a.email, a.password)).json()
    sid = _sid(other["access_token"])
    r = await client.delete(f"/api/v1/admin/user/{a.user['id']}/sessions/{sid}", headers=_as_admin(signer, a))
    assert r.status_code == 200, r.text
    assert await client.app.state.redis.exists(REVOKED_SESSION_KEY.format(sid=sid))
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]},
                                headers=assertion_headers(signer))
    assert refresh.status_code == 401
    mine = await client.post("/api/v1/auth/refresh", json={"refresh_token": a.tokens["refresh_token"]},
                             headers=assertion_headers(signer))
    assert mine.status_code == 200  # the other session is untouched
    again = await client.delete(f"/api/v1/admin/user/{a.user['id']}/sessions/{sid}", headers=_as_admin(signer, a))
    assert again.status_code == 404 and again.json()["error"] == "session_not_found"
    listed = await client.get(f"/api/v1/admin/user/{a.user['id']}/sessions", headers=_as_admin(signer, a))
    assert sid not in {s["id"] for s in listed.json()["sessions"]}


async def test_another_companys_user_and_sessions_are_404(client, signer):
    a, b = await signup(client, signer), await signup(client, signer)
    sid = _sid(b.tokens["access_token"])
    r = await client.get(f"/api/v1/admin/user/{b.user['id']}/sessions", headers=_as_admin(signer, a))
    assert r.status_code == 404 and r.json()["error"] == "user_not_found"
    r = await client.delete(f"/api/v1/admin/user/{b.user['id']}/sessions/{sid}", headers=_as_admin(signer, a))
    assert r.status_code == 404
    r = await client.delete(f"/api/v1/admin/user/{a.user['id']}/sessions/{sid}", headers=_as_admin(signer, a))
    assert r.status_code == 404 and r.json()["error"] == "session_not_found"
    r = await client.get(f"/api/v1/admin/user/{a.user['id']}/sessions/not-a-uuid", headers=_as_admin(signer, a))
    assert r.status_code in (404, 405)
