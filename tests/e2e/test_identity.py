"""Identity as a user drives it through the gateway: sessions, API keys, lock-out, impersonation."""

import json
import uuid

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from .accounts import api_key, key_headers, mail_token, sign_up
from .conftest import wait_for

pytestmark = pytest.mark.e2e


async def test_signup_verify_login_me_refresh_logout_then_the_old_token_is_refused(platform, gateway):
    account = await sign_up(gateway)
    assert account.user["email_verified"] is False
    token = mail_token(platform.mail_dir, account.email)
    r = await gateway.post("/api/v1/verify", json={"token": token})
    assert r.status_code == 200, r.text

    r = await gateway.post("/api/v1/auth/login", json={"email": account.email, "password": account.password})
    assert r.status_code == 200, r.text
    session = r.json()
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    me = await gateway.get("/api/v1/auth/user/me", headers=bearer)
    assert me.status_code == 200 and me.json()["user"]["email_verified"] is True
    assert me.json()["company"]["id"] == account.company["id"]

    r = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert r.status_code == 200, r.text
    renewed = r.json()
    renewed_bearer = {"Authorization": f"Bearer {renewed['access_token']}"}
    assert (await gateway.get("/api/v1/auth/user/me", headers=renewed_bearer)).status_code == 200

    assert (await gateway.post("/api/v1/auth/logout", headers=renewed_bearer)).status_code == 200

    async def me_status():
        return (await gateway.get("/api/v1/auth/user/me", headers=renewed_bearer)).status_code

    status, seconds = await wait_for(me_status, 401, timeout=1.0)
    assert status == 401 and seconds < 1.0
    # The whole sign-in session ended: the earlier access token of it too, and its refresh token.
    assert (await gateway.get("/api/v1/auth/user/me", headers=bearer)).status_code == 401
    r = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": renewed["refresh_token"]})
    assert r.status_code == 401


async def test_refresh_token_reuse_revokes_the_family_and_its_access_tokens(gateway):
    account = await sign_up(gateway)
    first = account.refresh_token
    r = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": first})
    second = r.json()
    replay = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert replay.status_code == 401 and replay.json()["error"] == "refresh_token_reused"
    r = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401
    r = await gateway.get("/api/v1/auth/user/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert r.status_code == 401 and r.json()["success"] is False


async def test_read_only_api_key_reads_but_cannot_write(gateway):
    account = await sign_up(gateway)
    key = await api_key(gateway, account, scopes=["read"])
    r = await gateway.get("/api/v1/auth/validate", headers=key_headers(key))
    assert r.status_code == 200 and r.json()["api_key_info"]["id"] == key["id"]
    r = await gateway.put("/api/v1/user/profile", json={"first_name": "Changed"}, headers=key_headers(key))
    assert r.status_code == 403 and r.json()["success"] is False
    profile = (await gateway.get("/api/v1/user/profile", headers=account.auth)).json()["user"]
    assert profile["first_name"] == "Grace"


async def test_revoked_key_is_refused_at_once(gateway):
    account = await sign_up(gateway)
    key = await api_key(gateway, account, scopes=["read"])
    assert (await gateway.get("/api/v1/auth/validate", headers=key_headers(key))).status_code == 200
    r = await gateway.delete(f"/api/v1/auth/api-keys/{key['id']}", headers=account.auth)
    assert r.status_code == 200
    r = await gateway.get("/api/v1/auth/validate", headers=key_headers(key))
    assert r.status_code == 401 and r.json()["success"] is False


async def test_wrong_secret_is_401(gateway):
    account = await sign_up(gateway)
    key = await api_key(gateway, account, scopes=["read"])
    r = await gateway.get("/api/v1/auth/validate", headers={"X-API-Key": key["X-API-Key"], "X-API-Secret": "as_nope"})
    assert r.status_code == 401


async def test_key_over_its_hourly_limit_gets_429_with_retry_after(gateway):
    account = await sign_up(gateway)
    key = await api_key(gateway, account, scopes=["read"], rate_limit_per_hour=3)
    statuses = []
    for _ in range(4):
        r = await gateway.get("/api/v1/auth/validate", headers=key_headers(key))
        statuses.append(r.status_code)
    assert statuses == [200, 200, 200, 429]
    assert r.json()["error"] == "rate_limited" and int(r.headers["retry-after"]) > 0
    assert r.headers["x-ratelimit-limit"] == "3" and r.headers["x-ratelimit-remaining"] == "0"


async def test_repeated_bad_passwords_lock_the_account(gateway):
    account = await sign_up(gateway)
    bad = {"email": account.email, "password": "not-the-password"}
    statuses = [(await gateway.post("/api/v1/auth/login", json=bad)).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    r = await gateway.post("/api/v1/auth/login", json={"email": account.email, "password": account.password})
    assert r.status_code == 423 and r.json()["error"] == "account_locked" and "retry-after" in r.headers


async def _audit_events(platform, action: str, target_id: str) -> list[dict]:
    """Audit events of `action` on `target_id`, read back from the EVENTS stream."""
    nc = await nats.connect(platform.env["NATS_URL"])
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            "events.auth.audit.recorded.v1", durable=None,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        found = []
        remaining = (await sub.consumer_info()).num_pending
        while remaining > 0:
            messages = await sub.fetch(min(256, remaining), timeout=5)
            remaining -= len(messages)
            for message in messages:
                envelope = json.loads(message.data)
                if envelope["data"]["action"] == action and envelope["data"]["target_id"] == target_id:
                    found.append(envelope)
        return found
    finally:
        await nc.close()


async def test_impersonation_acts_as_the_user_and_is_audited(platform, gateway, super_admin_token):
    account = await sign_up(gateway)
    root = {"Authorization": f"Bearer {super_admin_token}"}
    # A client-written X-Forwarded-For does not become the audited address.
    spoofed = {**root, "X-Forwarded-For": "203.0.113.66"}
    r = await gateway.post(f"/api/v1/user/{account.user['id']}/impersonate", headers=spoofed)
    assert r.status_code == 200, r.text
    acting = {"Authorization": f"Bearer {r.json()['access_token']}"}
    me = await gateway.get("/api/v1/auth/user/me", headers=acting)
    assert me.status_code == 200 and me.json()["user"]["id"] == account.user["id"]
    assert (await gateway.post("/api/v1/auth/api-keys", json={"name": "x"}, headers=acting)).status_code == 403
    # A company admin cannot impersonate anyone.
    other = await sign_up(gateway)
    r = await gateway.post(f"/api/v1/user/{other.user['id']}/impersonate", headers=account.auth)
    assert r.status_code == 403

    async def audited():
        return len(await _audit_events(platform, "user.impersonated", account.user["id"]))

    count, _ = await wait_for(audited, 1, timeout=15.0)
    assert count == 1
    (event,) = await _audit_events(platform, "user.impersonated", account.user["id"])
    assert event["actor"]["kind"] == "user" and event["actor"]["ip"] == "127.0.0.1"


async def test_suspended_users_tokens_are_refused_within_a_second(gateway, super_admin_token):
    admin = await sign_up(gateway)
    tag = uuid.uuid4().hex[:8]
    body = {"email": f"member-{tag}@example.com", "username": f"member_{tag}", "password": "Member12345!",
            "first_name": "Mem", "last_name": "Ber"}
    assert (await gateway.post("/api/v1/auth/user", json=body, headers=admin.auth)).status_code == 201
    r = await gateway.post("/api/v1/auth/login", json={"email": body["email"], "password": body["password"]})
    member = {"Authorization": f"Bearer {r.json()['access_token']}"}
    member_id = r.json()["user"]["id"]
    assert (await gateway.get("/api/v1/user/profile", headers=member)).status_code == 200
    r = await gateway.patch(f"/api/v1/user/{member_id}/status", json={"status": "suspended"}, headers=admin.auth)
    assert r.status_code == 200, r.text

    async def status():
        return (await gateway.get("/api/v1/user/profile", headers=member)).status_code

    code, seconds = await wait_for(status, 401, timeout=1.0)
    assert code == 401 and seconds < 1.0


async def test_key_usage_is_counted_off_the_request_path(gateway):
    account = await sign_up(gateway)
    key = await api_key(gateway, account, scopes=["read"])
    for _ in range(3):
        assert (await gateway.get("/api/v1/auth/validate", headers=key_headers(key))).status_code == 200

    async def usage():
        listed = (await gateway.get("/api/v1/auth/api-keys", headers=account.auth)).json()["api_keys"]
        (mine,) = [k for k in listed if k["id"] == key["id"]]
        return mine["usage_count"], mine["last_used_at"] is not None

    seen, _ = await wait_for(usage, (3, True), timeout=10.0)
    assert seen == (3, True)


async def test_deleting_a_company_shuts_its_credentials_out_until_restored(gateway, super_admin_token):
    account = await sign_up(gateway)
    key = await api_key(gateway, account, scopes=["read"])
    root = {"Authorization": f"Bearer {super_admin_token}"}
    assert (await gateway.delete(f"/api/v1/company/{account.company['id']}", headers=root)).status_code == 200
    assert (await gateway.get("/api/v1/auth/user/me", headers=account.auth)).status_code == 401
    assert (await gateway.get("/api/v1/auth/validate", headers=key_headers(key))).status_code == 401
    r = await gateway.post("/api/v1/auth/login", json={"email": account.email, "password": account.password})
    assert r.status_code == 403 and r.json()["error"] == "company_inactive"

    r = await gateway.patch(f"/api/v1/company/{account.company['id']}/restore", headers=root)
    assert r.status_code == 200, r.text
    assert (await gateway.get("/api/v1/auth/user/me", headers=account.auth)).status_code == 200
    assert (await gateway.get("/api/v1/auth/validate", headers=key_headers(key))).status_code == 200
