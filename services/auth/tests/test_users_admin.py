"""User administration: catalogues and their filters, a user, status, role, forced password reset."""

import datetime as dt
import uuid

from sqlalchemy import select

from knowrithm_auth.models import ApiKey, User, shared
from knowrithm_common.identity import Principal, Role
from knowrithm_common.testing import assertion_headers
from knowrithm_common.tokens import VALID_AFTER_KEY

from .support import login, mails_to, signup

ROOT = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)


async def _add_user(client, company_id, **over):
    """A user row written straight to the database (the admin API has no user creation)."""
    tag = uuid.uuid4().hex[:10]
    fields = {
        "id": uuid.uuid4(), "company_id": uuid.UUID(str(company_id)), "email": f"u-{tag}@example.com",
        "username": f"user_{tag}", "password_hash": "x", "first_name": "Grace", "last_name": "Hopper",
        "role": "user", "status": "active", "email_verified": False, "failed_login_attempts": 0, **over,
    }
    async with client.app.state.db.session() as s, s.begin():
        s.add(User(**fields))
    return fields


def _as(signer, principal):
    return assertion_headers(signer, principal)


def _member(user, role=Role.USER):
    return Principal(kind="user", user_id=user["id"], company_id=user["company_id"], role=role)


async def _outbox(client, event_type):
    async with client.app.state.db.sessions() as s:
        envelopes = (await s.execute(select(shared.outbox.c.envelope).order_by(
            shared.outbox.c.created_at, shared.outbox.c.id))).scalars().all()
    return [e for e in envelopes if e["type"] == event_type]


async def test_admin_lists_only_their_own_company_users(client, signer):
    a, b = await signup(client, signer), await signup(client, signer)
    extra = await _add_user(client, a.company["id"])
    r = await client.get("/api/v1/admin/user", headers=_as(signer, a.principal()))
    assert r.status_code == 200
    body = r.json()
    assert {u["id"] for u in body["users"]} == {a.user["id"], str(extra["id"])}
    assert body["pagination"]["total"] == 2 and body["filters_applied"]["sort_by"] == "created_at"
    assert body["users"][0]["login_attempts"] == 0 and body["users"][0]["two_factor_enabled"] is False
    # Another company's id in the query does not widen the view: it is not found.
    r = await client.get(f"/api/v1/admin/user?company_id={b.company['id']}", headers=_as(signer, a.principal()))
    assert r.status_code == 404 and r.json()["error"] == "company_not_found"


async def test_admin_of_another_company_gets_404_for_a_user(client, signer):
    a, b = await signup(client, signer), await signup(client, signer)
    for path in (f"/api/v1/admin/user/{a.user['id']}", f"/api/v1/user/{a.user['id']}"):
        r = await client.get(path, headers=_as(signer, b.principal()))
        assert r.status_code == 404 and r.json() == {
            "success": False, "error": "user_not_found", "message": "User not found"}
    r = await client.get(f"/api/v1/admin/user/{a.user['id']}", headers=_as(signer, a.principal()))
    assert r.status_code == 200 and r.json()["data"]["email"] == a.email


async def test_plain_user_reads_a_colleague_but_cannot_list_users(client, signer):
    a = await signup(client, signer)
    colleague = await _add_user(client, a.company["id"])
    r = await client.get(f"/api/v1/user/{a.user['id']}", headers=_as(signer, _member(colleague)))
    assert r.status_code == 200 and r.json()["success"] is True and r.json()["data"]["id"] == a.user["id"]
    r = await client.get("/api/v1/admin/user", headers=_as(signer, _member(colleague)))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


async def test_super_admin_lists_one_company_and_unknown_company_is_404(client, signer):
    a = await signup(client, signer)
    await _add_user(client, a.company["id"])
    for path in (f"/api/v1/super-admin/company/{a.company['id']}/user",
                 f"/api/v1/admin/user?company_id={a.company['id']}"):
        r = await client.get(path, headers=_as(signer, ROOT))
        assert r.status_code == 200 and r.json()["pagination"]["total"] == 2
    r = await client.get(f"/api/v1/super-admin/company/{uuid.uuid4()}/user", headers=_as(signer, ROOT))
    assert r.status_code == 404 and r.json()["error"] == "company_not_found"
    r = await client.get(f"/api/v1/super-admin/company/{a.company['id']}/user", headers=_as(signer, a.principal()))
    assert r.status_code == 403


async def test_super_admin_without_company_sees_users_of_every_company(client, signer):
    a, b = await signup(client, signer), await signup(client, signer)
    r = await client.get("/api/v1/admin/user?per_page=100&sort_by=created_at&sort_order=desc",
                         headers=_as(signer, ROOT))
    ids = {u["id"] for u in r.json()["users"]}
    assert {a.user["id"], b.user["id"]} <= ids


async def test_filters_narrow_the_catalogue(client, signer):
    a = await signup(client, signer)
    cid = a.company["id"]
    now = dt.datetime.now(dt.UTC)
    suspended = await _add_user(client, cid, status="suspended", first_name="Zelda", last_name="Quux")
    locked = await _add_user(client, cid, locked_until=now + dt.timedelta(minutes=10), failed_login_attempts=4)
    lapsed = await _add_user(client, cid, locked_until=now - dt.timedelta(minutes=10), last_login_at=now,
                             language="fr", timezone="Europe/Paris")
    deleted = await _add_user(client, cid, deleted_at=now)
    headers = _as(signer, a.principal())

    async def ids(query):
        r = await client.get(f"/api/v1/admin/user?{query}", headers=headers)
        assert r.status_code == 200, r.text
        return {u["id"] for u in r.json()["users"]}

    assert await ids("status=suspended") == {str(suspended["id"])}
    assert await ids("search=zELDa%20qu") == {str(suspended["id"])}  # full name, any case
    assert await ids(f"search={suspended['email'][:12].upper()}") == {str(suspended["id"])}
    assert await ids("locked=true") == {str(locked["id"])}
    assert await ids("high_login_attempts=true") == {str(locked["id"])}
    assert await ids("high_login_attempts=5") == set()
    assert await ids("never_logged_in=false") == {str(lapsed["id"])}
    assert await ids("language=fr&timezone=Europe/Paris") == {str(lapsed["id"])}
    assert await ids("role=admin") == {a.user["id"]}
    assert await ids("only_deleted=true") == {str(deleted["id"])}
    assert str(deleted["id"]) in await ids("include_deleted=true")
    assert str(deleted["id"]) not in await ids("")
    assert await ids("two_factor_enabled=true") == set()
    later = (now + dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert await ids(f"created_after={later}") == set()


async def test_pagination_and_sorting(client, signer):
    a = await signup(client, signer)
    for name in ("Bea", "Cy", "Dot", "Eve"):
        await _add_user(client, a.company["id"], first_name=name)
    headers = _as(signer, a.principal())
    r = await client.get("/api/v1/admin/user?per_page=2&page=2&sort_by=first_name&sort_order=asc", headers=headers)
    body = r.json()
    assert [u["first_name"] for u in body["users"]] == ["Cy", "Dot"]  # Ada, Bea | Cy, Dot | Eve
    assert body["pagination"] == {"page": 2, "per_page": 2, "total": 5, "pages": 3, "has_next": True,
                                  "has_prev": True}


async def test_bad_filter_values_answer_422_in_the_shared_shape(client, signer):
    a = await signup(client, signer)
    headers = _as(signer, a.principal())
    for query, field in (("status=bogus", "status"), ("sort_by=password_hash", "sort_by"),
                         ("created_after=yesterday", "created_after"), ("locked=maybe", "locked"),
                         ("high_login_attempts=lots", "high_login_attempts"), ("per_page=500", "per_page")):
        r = await client.get(f"/api/v1/admin/user?{query}", headers=headers)
        assert r.status_code == 422, query
        body = r.json()
        assert body["success"] is False and body["error"] == "validation_error"
        assert body["detail"][0]["loc"] == ["query", field]
    r = await client.get("/api/v1/admin/user?created_after=2025-02-01T00:00:00Z&created_before=2025-01-01T00:00:00Z",
                         headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


async def test_suspending_a_user_signs_them_out_everywhere(client, signer):
    a = await signup(client, signer)
    other_admin = await _add_user(client, a.company["id"], role="admin")
    r = await client.patch(f"/api/v1/user/{a.user['id']}/status", json={"status": "suspended", "reason": "audit"},
                           headers=_as(signer, _member(other_admin, Role.ADMIN)))
    assert r.status_code == 200 and r.json()["data"]["status"] == "suspended"
    assert await client.app.state.redis.exists(VALID_AFTER_KEY.format(user_id=a.user["id"]))
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": a.tokens["refresh_token"]},
                                headers=assertion_headers(signer))
    assert refresh.status_code == 401
    assert (await login(client, signer, a.email, a.password)).status_code != 200
    events = [e for e in await _outbox(client, "auth.user.updated.v1") if e["data"]["user_id"] == a.user["id"]]
    assert [(e["data"]["change"], e["data"]["status"]) for e in events] == [("status", "suspended")]


async def test_the_last_active_admin_cannot_be_suspended_or_demoted(client, signer):
    a = await signup(client, signer)
    await _add_user(client, a.company["id"], role="admin", status="inactive")  # not an active admin
    for path, body in (("status", {"status": "inactive"}), ("role", {"role": "user"})):
        r = await client.patch(f"/api/v1/user/{a.user['id']}/{path}", json=body, headers=_as(signer, ROOT))
        assert r.status_code == 409 and r.json()["error"] == "last_active_admin"
    r = await client.get(f"/api/v1/admin/user/{a.user['id']}", headers=_as(signer, ROOT))
    assert r.json()["data"]["role"] == "admin" and r.json()["data"]["status"] == "active"


async def test_nobody_changes_their_own_role_or_status(client, signer):
    a = await signup(client, signer)
    await _add_user(client, a.company["id"], role="admin")
    for path, body in (("status", {"status": "inactive"}), ("role", {"role": "user"})):
        r = await client.patch(f"/api/v1/user/{a.user['id']}/{path}", json=body, headers=_as(signer, a.principal()))
        assert r.status_code == 403 and r.json()["error"] == "cannot_change_self"
    refused = [e for e in await _outbox(client, "auth.audit.recorded.v1")
               if e["data"]["target_id"] == a.user["id"] and e["data"]["outcome"] == "failure"]
    assert {e["data"]["reason"] for e in refused} == {"cannot_change_self"}


async def test_admin_cannot_grant_super_admin_nor_reach_a_super_admin(client, signer):
    a = await signup(client, signer)
    colleague = await _add_user(client, a.company["id"])
    r = await client.patch(f"/api/v1/user/{colleague['id']}/role", json={"role": "super_admin"},
                           headers=_as(signer, a.principal()))
    assert r.status_code == 403 and r.json()["error"] == "cannot_grant_super_admin"
    async with client.app.state.db.sessions() as s:
        root_id = await s.scalar(select(User.id).where(User.role == "super_admin").limit(1))
    r = await client.patch(f"/api/v1/user/{root_id}/status", json={"status": "suspended"},
                           headers=_as(signer, a.principal()))
    assert r.status_code == 404


async def test_role_change_signs_the_user_out_and_is_recorded(client, signer):
    a = await signup(client, signer)
    colleague = await _add_user(client, a.company["id"])
    r = await client.patch(f"/api/v1/user/{colleague['id']}/role", json={"role": "admin"},
                           headers=_as(signer, a.principal()))
    assert r.status_code == 200 and r.json()["data"]["role"] == "admin"
    assert await client.app.state.redis.exists(VALID_AFTER_KEY.format(user_id=colleague["id"]))
    events = [e for e in await _outbox(client, "auth.user.updated.v1")
              if e["data"]["user_id"] == str(colleague["id"])]
    assert [(e["data"]["change"], e["data"]["role"]) for e in events] == [("role", "admin")]
    audits = [e for e in await _outbox(client, "auth.audit.recorded.v1")
              if e["data"]["target_id"] == str(colleague["id"]) and e["data"]["action"] == "user.role_changed"]
    assert audits and audits[0]["data"]["detail"] == {"from": "user", "to": "admin"}


async def test_bad_status_and_role_bodies_are_422(client, signer):
    a = await signup(client, signer)
    colleague = await _add_user(client, a.company["id"])
    headers = _as(signer, a.principal())
    for path, body, loc in (("status", {"status": "banished"}, ["body", "status"]),
                            ("status", {"status": "active", "colour": "red"}, ["body", "colour"]),
                            ("role", {"role": 7}, ["body", "role"]),
                            ("role", {}, ["body", "role"])):
        r = await client.patch(f"/api/v1/user/{colleague['id']}/{path}", json=body, headers=headers)
        assert r.status_code == 422 and r.json()["error"] == "validation_error", body
        assert r.json()["detail"][0]["loc"] == loc
    r = await client.patch(f"/api/v1/user/{colleague['id']}/status", content=b"{", headers={
        **headers, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"


async def test_api_key_needs_the_admin_scope_to_change_a_status(client, signer):
    a = await signup(client, signer)
    colleague = await _add_user(client, a.company["id"])
    key = a.principal(kind="api_key", scopes=["read", "write"], api_key_id=uuid.uuid4())
    r = await client.patch(f"/api/v1/user/{colleague['id']}/status", json={"status": "inactive"},
                           headers=_as(signer, key))
    assert r.status_code == 403
    key = key.model_copy(update={"scopes": ["admin"]})
    r = await client.patch(f"/api/v1/user/{colleague['id']}/status", json={"status": "inactive"},
                           headers=_as(signer, key))
    assert r.status_code == 200 and r.json()["data"]["status"] == "inactive"


async def test_forced_password_reset_stops_the_old_password_and_mails_a_link(client, signer, mail_dir):
    a = await signup(client, signer)
    other_admin = await _add_user(client, a.company["id"], role="admin")
    r = await client.post(f"/api/v1/user/{a.user['id']}/force-password-reset",
                          headers=_as(signer, _member(other_admin, Role.ADMIN)))
    assert r.status_code == 200 and r.json()["success"] is True
    r = await login(client, signer, a.email, a.password)
    assert r.status_code == 403 and r.json()["error"] == "password_reset_required"
    assert await client.app.state.redis.exists(VALID_AFTER_KEY.format(user_id=a.user["id"]))
    assert mails_to(mail_dir, a.email)
    b = await signup(client, signer)
    r = await client.post(f"/api/v1/user/{a.user['id']}/force-password-reset", headers=_as(signer, b.principal()))
    assert r.status_code == 404


async def test_granting_super_admin_takes_the_user_out_of_their_company(client, signer):
    a = await signup(client, signer)
    colleague = await _add_user(client, a.company["id"], role="admin")
    raw = uuid.uuid4().hex
    async with client.app.state.db.session() as s, s.begin():
        s.add(ApiKey(id=uuid.uuid4(), company_id=uuid.UUID(a.company["id"]), user_id=colleague["id"], name="ci",
                     key_prefix=raw[:8], key_hash=raw, secret_hash=raw, scopes=["read"], permissions={},
                     rate_limit_per_hour=10, rate_limit_per_day=10))
    r = await client.patch(f"/api/v1/user/{colleague['id']}/role", json={"role": "super_admin"},
                           headers=_as(signer, ROOT))
    assert r.status_code == 200 and r.json()["data"]["company_id"] is None
    async with client.app.state.db.sessions() as s:
        revoked = await s.scalar(select(ApiKey.revoked_at).where(ApiKey.user_id == colleague["id"]))
    assert revoked is not None
    r = await client.patch(f"/api/v1/user/{colleague['id']}/role", json={"role": "admin"}, headers=_as(signer, ROOT))
    assert r.status_code == 409 and r.json()["error"] == "super_admin_has_no_company"
