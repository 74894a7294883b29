"""Sign-in sessions: refresh rotation and reuse detection, logout, lock-out, refusals, impersonation."""

import uuid

from sqlalchemy import select

from knowrithm_auth.models import User, shared
from knowrithm_common.identity import Principal, Role
from knowrithm_common.testing import assertion_headers
from knowrithm_common.tokens import REVOKED_JTI_KEY, REVOKED_SESSION_KEY, VALID_AFTER_KEY

from .conftest import SUPER_ADMIN
from .support import login, signup


async def _refresh(client, signer, token):
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token}, headers=assertion_headers(signer))


async def _audit_events(client, action):
    async with client.app.state.db.sessions() as s:
        envelopes = (await s.execute(select(shared.outbox.c.envelope))).scalars().all()
    return [e for e in envelopes if e["type"] == "auth.audit.recorded.v1" and e["data"]["action"] == action]


async def test_refresh_rotates_and_the_old_token_stops_working(client, signer):
    account = await signup(client, signer)
    first = account.tokens["refresh_token"]
    r = await _refresh(client, signer, first)
    assert r.status_code == 200 and r.json()["refresh_token"] not in (None, first)
    assert r.json()["access_token"] != account.tokens["access_token"]


async def test_refresh_token_accepted_as_bearer_header(client, signer):
    account = await signup(client, signer)
    r = await client.post("/api/v1/auth/refresh", headers={
        **assertion_headers(signer), "Authorization": f"Bearer {account.tokens['refresh_token']}"})
    assert r.status_code == 200 and r.json()["refresh_token"].startswith("rt_")


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client, signer):
    account = await signup(client, signer)
    first = account.tokens["refresh_token"]
    second = (await _refresh(client, signer, first)).json()["refresh_token"]
    reused = await _refresh(client, signer, first)
    assert reused.status_code == 401 and reused.json()["error"] == "refresh_token_reused"
    # The thief's replay also killed the legitimate holder's newer token and the family's access tokens.
    after = await _refresh(client, signer, second)
    assert after.status_code == 401 and after.json()["error"] == "invalid_refresh_token"
    claims = _claims(account.tokens["access_token"])
    assert await client.app.state.redis.exists(REVOKED_SESSION_KEY.format(sid=claims["sid"]))
    assert await _audit_events(client, "session.refreshed")


async def test_unknown_or_missing_refresh_token_is_401(client, signer):
    assert (await _refresh(client, signer, "rt_" + "x" * 43)).status_code == 401
    r = await client.post("/api/v1/auth/refresh", headers=assertion_headers(signer))
    assert r.status_code == 401 and r.json()["error"] == "invalid_refresh_token"


def _claims(token):
    import jwt

    return jwt.decode(token, options={"verify_signature": False})


async def test_logout_revokes_the_token_and_its_session_in_redis(client, signer):
    account = await signup(client, signer)
    token = account.tokens["access_token"]
    claims = _claims(token)
    r = await client.post("/api/v1/auth/logout", headers={
        **assertion_headers(signer, account.principal()), "Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    redis = client.app.state.redis
    assert await redis.exists(REVOKED_JTI_KEY.format(jti=claims["jti"]))
    assert await redis.exists(REVOKED_SESSION_KEY.format(sid=claims["sid"]))
    assert (await _refresh(client, signer, account.tokens["refresh_token"])).status_code == 401


async def test_logout_with_an_api_key_is_403(client, signer):
    account = await signup(client, signer)
    key_principal = account.principal(kind="api_key", api_key_id=uuid.uuid4(), scopes=["write"])
    r = await client.post("/api/v1/auth/logout", headers=assertion_headers(signer, key_principal))
    assert r.status_code == 403


async def test_repeated_bad_passwords_lock_the_account_with_423(client, signer):
    account = await signup(client, signer)
    # The suite runs with AUTH_MAX_FAILED_LOGINS=3.
    statuses = [(await login(client, signer, account.email, "wrong-password")).status_code for _ in range(3)]
    assert statuses == [401, 401, 423]
    locked = await login(client, signer, account.email, account.password)
    assert locked.status_code == 423 and locked.json()["error"] == "account_locked"
    assert int(locked.headers["retry-after"]) > 0
    async with client.app.state.db.sessions() as s:
        user = await s.get(User, uuid.UUID(account.user["id"]))
    assert user.failed_login_attempts == 3 and user.locked_until is not None
    assert len([e for e in await _audit_events(client, "user.login")
                if e["data"]["target_id"] == account.user["id"] and e["data"]["outcome"] == "failure"]) == 4


async def test_a_good_login_resets_the_failure_count(client, signer):
    account = await signup(client, signer)
    await login(client, signer, account.email, "wrong-password")
    assert (await login(client, signer, account.email, account.password)).status_code == 200
    assert [(await login(client, signer, account.email, "nope-nope")).status_code for _ in range(2)] == [401, 401]


async def test_suspended_user_cannot_log_in_or_refresh(client, signer):
    account = await signup(client, signer)
    async with client.app.state.db.session() as s, s.begin():
        (await s.get(User, uuid.UUID(account.user["id"]))).status = "suspended"
    r = await login(client, signer, account.email, account.password)
    assert r.status_code == 403 and r.json()["error"] == "account_inactive"
    r = await _refresh(client, signer, account.tokens["refresh_token"])
    assert r.status_code == 403 and r.json()["error"] == "account_inactive"


async def test_password_reset_required_refuses_the_old_password_clearly(client, signer):
    account = await signup(client, signer)
    async with client.app.state.db.session() as s, s.begin():
        user = await s.get(User, uuid.UUID(account.user["id"]))
        user.password_hash = "!" + user.password_hash
    r = await login(client, signer, account.email, account.password)
    assert r.status_code == 403 and r.json()["error"] == "password_reset_required"


async def _super_admin(client, signer):
    r = await login(client, signer, SUPER_ADMIN["email"], SUPER_ADMIN["password"])
    user = r.json()["user"]
    return Principal(kind="user", user_id=user["id"], role=Role.SUPER_ADMIN)


async def test_super_admin_impersonation_token_records_who_and_cannot_refresh(client, signer):
    account = await signup(client, signer)
    root = await _super_admin(client, signer)
    r = await client.post(f"/api/v1/user/{account.user['id']}/impersonate", headers=assertion_headers(signer, root))
    assert r.status_code == 200
    body = r.json()
    claims = _claims(body["access_token"])
    assert claims["sub"] == account.user["id"] and claims["imp"] == str(root.user_id)
    assert "refresh_token" not in body or body.get("refresh_token") is None
    audited = [e for e in await _audit_events(client, "user.impersonated")
               if e["data"]["target_id"] == account.user["id"]]
    assert len(audited) == 1 and audited[0]["actor"]["id"] == str(root.user_id)


async def test_only_super_admins_impersonate(client, signer):
    account = await signup(client, signer)
    other = await signup(client, signer)
    r = await client.post(f"/api/v1/user/{other.user['id']}/impersonate",
                          headers=assertion_headers(signer, account.principal()))
    assert r.status_code == 403


async def test_impersonation_session_cannot_create_api_keys(client, signer):
    account = await signup(client, signer)
    acting = account.principal(impersonator_id=uuid.uuid4())
    r = await client.post("/api/v1/auth/api-keys", json={"name": "sneaky"}, headers=assertion_headers(signer, acting))
    assert r.status_code == 403


async def test_forced_sign_out_key_is_written_on_password_reset(client, signer, mail_dir):
    from .support import mails_to, token_in

    account = await signup(client, signer)
    anon = assertion_headers(signer)
    assert (await client.post("/api/v1/auth/forgot-password", json={"email": account.email}, headers=anon)).status_code == 200
    token = token_in(mails_to(mail_dir, account.email)[-1])
    r = await client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": "BrandNew123!"},
                          headers=anon)
    assert r.status_code == 200
    assert await client.app.state.redis.exists(VALID_AFTER_KEY.format(user_id=account.user["id"]))
    assert (await login(client, signer, account.email, account.password)).status_code == 401
    assert (await login(client, signer, account.email, "BrandNew123!")).status_code == 200
    again = await client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": "Another123!"},
                              headers=anon)
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"
