"""Profile, users added by admins, e-mail verification through the dev mail outbox."""

import uuid

from knowrithm_common.identity import Principal, Role
from knowrithm_common.testing import assertion_headers

from .support import login, mails_to, signup, token_in


async def test_registration_mails_a_link_that_verifies_the_address_once(client, signer, mail_dir):
    account = await signup(client, signer)
    assert account.user["email_verified"] is False
    token = token_in(mails_to(mail_dir, account.email)[-1])
    anon = assertion_headers(signer)
    r = await client.post("/api/v1/verify", json={"token": token}, headers=anon)
    assert r.status_code == 200 and r.json()["user"]["email_verified"] is True
    again = await client.post("/api/v1/verify", json={"token": token}, headers=anon)
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"


async def test_send_answers_the_same_for_unknown_addresses_and_mails_nobody(client, signer, mail_dir):
    anon = assertion_headers(signer)
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.post("/api/v1/send", json={"email": nobody}, headers=anon)
    account = await signup(client, signer)
    known = await client.post("/api/v1/send", json={"email": account.email}, headers=anon)
    assert r.status_code == known.status_code == 200 and r.json() == known.json()
    assert mails_to(mail_dir, nobody) == [] and len(mails_to(mail_dir, account.email)) == 2


async def test_a_new_verification_mail_voids_the_previous_link(client, signer, mail_dir):
    account = await signup(client, signer)
    first = token_in(mails_to(mail_dir, account.email)[-1])
    await client.post("/api/v1/send", headers=assertion_headers(signer, account.principal()))
    r = await client.post("/api/v1/verify", json={"token": first}, headers=assertion_headers(signer))
    assert r.status_code == 400


async def test_profile_reads_and_updates_only_given_fields(client, signer):
    account = await signup(client, signer)
    me = assertion_headers(signer, account.principal())
    r = await client.put("/api/v1/user/profile", json={"timezone": "Europe/Berlin", "preferences": {"theme": "dark"}},
                         headers=me)
    assert r.status_code == 200
    user = (await client.get("/api/v1/user/profile", headers=me)).json()["user"]
    assert user["timezone"] == "Europe/Berlin" and user["preferences"] == {"theme": "dark"}
    assert user["first_name"] == "Ada" and user["login_attempts"] == 0


async def test_profile_update_rejects_unknown_fields_and_timezones(client, signer):
    account = await signup(client, signer)
    me = assertion_headers(signer, account.principal())
    r = await client.put("/api/v1/user/profile", json={"role": "super_admin"}, headers=me)
    assert r.status_code == 422 and r.json()["success"] is False
    r = await client.put("/api/v1/user/profile", json={"timezone": "Mars/Olympus"}, headers=me)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "timezone"
    r = await client.put("/api/v1/user/profile", json={"first_name": 42}, headers=me)
    assert r.status_code == 422


async def test_admin_adds_a_user_who_can_sign_in(client, signer, mail_dir):
    account = await signup(client, signer)
    tag = uuid.uuid4().hex[:8]
    body = {"email": f"new-{tag}@example.com", "username": f"new_{tag}", "password": "Another123!",
            "first_name": "Grace", "last_name": "Hopper"}
    r = await client.post("/api/v1/auth/user", json=body, headers=assertion_headers(signer, account.principal()))
    assert r.status_code == 201 and r.json()["company_id"] == account.company["id"] and r.json()["role"] == "user"
    assert (await login(client, signer, body["email"], body["password"])).status_code == 200
    assert mails_to(mail_dir, body["email"])


async def test_plain_users_and_unscoped_keys_cannot_add_users(client, signer):
    account = await signup(client, signer)
    body = {"email": f"x-{uuid.uuid4().hex[:8]}@example.com", "username": f"x_{uuid.uuid4().hex[:8]}",
            "password": "Another123!", "first_name": "X", "last_name": "Y"}
    as_user = assertion_headers(signer, account.principal(role=Role.USER))
    assert (await client.post("/api/v1/auth/user", json=body, headers=as_user)).status_code == 403
    key = account.principal(kind="api_key", api_key_id=uuid.uuid4(), scopes=["write"])
    assert (await client.post("/api/v1/auth/user", json=body, headers=assertion_headers(signer, key))).status_code == 403


async def test_super_admin_adds_a_user_to_the_company_it_names_and_must_name_one(client, signer):
    account = await signup(client, signer)
    root = assertion_headers(signer, Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN))
    tag = uuid.uuid4().hex[:8]
    body = {"email": f"named-{tag}@example.com", "username": f"named_{tag}", "password": "Another123!",
            "first_name": "Named", "last_name": "Company"}
    r = await client.post("/api/v1/auth/user", json=body, headers=root)
    assert r.status_code == 400 and r.json()["error"] == "company_id_required"
    r = await client.post(f"/api/v1/auth/user?company_id={account.company['id']}", json=body, headers=root)
    assert r.status_code == 201 and r.json()["company_id"] == account.company["id"]


async def test_short_password_and_bad_email_are_422_with_fields(client, signer):
    account = await signup(client, signer)
    body = {"email": "not-an-email", "username": "ok_name", "password": "short", "first_name": "A", "last_name": "B"}
    r = await client.post("/api/v1/auth/user", json=body, headers=assertion_headers(signer, account.principal()))
    assert r.status_code == 422
    assert {tuple(d["loc"])[-1] for d in r.json()["detail"]} == {"email", "password"}
