"""Companies: the caller's company, updates, the super-admin catalogue and the lifecycle."""

import datetime as dt
import uuid

from sqlalchemy import select

from knowrithm_auth.models import Address, ApiKey, City, Country, State, User, shared
from knowrithm_common.identity import Principal, Role
from knowrithm_common.testing import assertion_headers
from knowrithm_common.tokens import COMPANY_DISABLED_KEY, VALID_AFTER_KEY, credential_hash

from .support import login, signup

ROOT = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)


def _as(signer, principal):
    return assertion_headers(signer, principal)


async def _outbox(client, event_type):
    async with client.app.state.db.sessions() as s:
        envelopes = (await s.execute(select(shared.outbox.c.envelope).order_by(
            shared.outbox.c.created_at, shared.outbox.c.id))).scalars().all()
    return [e for e in envelopes if e["type"] == event_type]


async def _add_key(client, account, **over):
    """An API key row written straight to the database."""
    raw = uuid.uuid4().hex
    fields = {
        "id": uuid.uuid4(), "company_id": uuid.UUID(account.company["id"]), "user_id": uuid.UUID(account.user["id"]),
        "name": "ci", "key_prefix": raw[:8], "key_hash": credential_hash(raw), "secret_hash": credential_hash(raw[::-1]),
        "scopes": ["read"], "permissions": {}, "rate_limit_per_hour": 100, "rate_limit_per_day": 1000, **over,
    }
    async with client.app.state.db.session() as s, s.begin():
        s.add(ApiKey(**fields))
    return fields


async def _add_address(client, company_id):
    tag = uuid.uuid4().hex[:8]
    async with client.app.state.db.session() as s, s.begin():
        country = Country(name=f"Country {tag}")
        s.add(country)
        await s.flush()
        state = State(name=f"State {tag}", country_id=country.id)
        s.add(state)
        await s.flush()
        city = City(name=f"City {tag}", state_id=state.id)
        s.add(city)
        await s.flush()
        address = Address(company_id=uuid.UUID(company_id), street_address="1 Main St", city_id=city.id,
                          state_id=state.id, country_id=country.id, is_primary=True)
        s.add(address)
        await s.flush()
        return address.id


async def test_member_reads_their_company_and_other_companies_are_404(client, signer):
    a, b = await signup(client, signer), await signup(client, signer)
    r = await client.get("/api/v1/company", headers=_as(signer, a.principal()))
    assert r.status_code == 200 and r.json()["id"] == a.company["id"] and r.json()["is_verified"] is False
    r = await client.get(f"/api/v1/company?company_id={a.company['id']}", headers=_as(signer, b.principal()))
    assert r.status_code == 404 and r.json()["error"] == "company_not_found"


async def test_super_admin_reads_a_company_only_by_naming_it(client, signer):
    a = await signup(client, signer)
    assert (await client.get("/api/v1/company", headers=_as(signer, ROOT))).status_code == 404
    r = await client.get(f"/api/v1/company?company_id={a.company['id']}", headers=_as(signer, ROOT))
    assert r.status_code == 200 and r.json()["name"] == a.company["name"]


async def test_patch_changes_only_given_fields_and_put_replaces_them(client, signer):
    a = await signup(client, signer)
    path, headers = f"/api/v1/company/{a.company['id']}", _as(signer, a.principal())
    address_id = await _add_address(client, a.company["id"])
    r = await client.patch(path, json={"phone": "+1-555-111-2222", "address_id": address_id}, headers=headers)
    assert r.status_code == 200
    assert r.json()["phone"] == "+1-555-111-2222" and r.json()["name"] == a.company["name"]
    assert r.json()["address"]["street_address"] == "1 Main St"
    new_email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.put(path, json={"name": "Renamed", "email": new_email}, headers=headers)
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["email"], r.json()["phone"], r.json()["address"]) == (
        "Renamed", new_email, None, None)
    updates = [e for e in await _outbox(client, "auth.company.updated.v1")
               if e["data"]["company_id"] == a.company["id"]]
    assert [e["data"]["name"] for e in updates] == [a.company["name"], "Renamed"]


async def test_update_refuses_unknown_fields_wrong_types_and_taken_email(client, signer):
    a, b = await signup(client, signer), await signup(client, signer)
    path, headers = f"/api/v1/company/{a.company['id']}", _as(signer, a.principal())
    for body, loc in (({"website": "https://acme.example.com"}, ["website"]), ({"name": 12}, ["name"]),
                      ({"email": None}, []), ({"address_id": "twelve"}, ["address_id"])):
        r = await client.patch(path, json=body, headers=headers)
        assert r.status_code == 422 and r.json()["error"] == "validation_error", body
        assert r.json()["detail"][0]["loc"] == loc
    r = await client.put(path, json={"phone": "+1"}, headers=headers)  # PUT needs name and email
    assert r.status_code == 422
    r = await client.patch(path, json={"email": b.company["email"].upper()}, headers=headers)
    assert r.status_code == 409 and r.json()["error"] == "company_exists"
    r = await client.patch(path, json={"address_id": 999999}, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["address_id"]


async def test_only_the_companys_admins_or_super_admins_update_it(client, signer):
    a, b = await signup(client, signer), await signup(client, signer)
    path = f"/api/v1/company/{a.company['id']}"
    r = await client.patch(path, json={"phone": "+2"}, headers=_as(signer, b.principal()))
    assert r.status_code == 404
    r = await client.patch(path, json={"phone": "+2"}, headers=_as(signer, a.principal(role=Role.USER)))
    assert r.status_code == 403
    r = await client.patch(path, json={"phone": "+3"}, headers=_as(signer, ROOT))
    assert r.status_code == 200 and r.json()["phone"] == "+3"


async def test_super_admin_catalogue_pages_companies_in_the_spec_shape(client, signer):
    await signup(client, signer)
    await signup(client, signer)
    r = await client.get("/api/v1/super-admin/company?per_page=1&page=2", headers=_as(signer, ROOT))
    assert r.status_code == 200
    page = r.json()["pagination"]
    assert len(r.json()["companies"]) == 1 and page["current_page"] == 2 and page["total_items"] >= 2
    assert page["prev_page"] == 1 and page["has_prev"] is True
    a = await signup(client, signer)
    assert (await client.get("/api/v1/super-admin/company", headers=_as(signer, a.principal()))).status_code == 403


async def test_delete_disables_the_company_and_restore_enables_it(client, signer):
    a = await signup(client, signer)
    redis, key = client.app.state.redis, COMPANY_DISABLED_KEY.format(company_id=a.company["id"])
    path = f"/api/v1/company/{a.company['id']}"
    r = await client.delete(path, headers=_as(signer, ROOT))
    assert r.status_code == 200 and r.json()["company"]["deleted_at"] is not None
    assert await redis.get(key) == b"1"
    assert (await login(client, signer, a.email, a.password)).status_code != 200
    assert (await client.get("/api/v1/company", headers=_as(signer, a.principal()))).status_code == 404
    deleted = await client.get("/api/v1/company/deleted?per_page=100", headers=_as(signer, ROOT))
    assert a.company["id"] in {c["id"] for c in deleted.json()["companies"]}
    again = await client.delete(path, headers=_as(signer, ROOT))
    assert again.status_code == 409 and again.json()["error"] == "company_already_deleted"

    r = await client.patch(f"{path}/restore", headers=_as(signer, ROOT))
    assert r.status_code == 200 and r.json()["company"]["deleted_at"] is None
    assert not await redis.exists(key)
    assert (await login(client, signer, a.email, a.password)).status_code == 200
    again = await client.patch(f"{path}/restore", headers=_as(signer, ROOT))
    assert again.status_code == 409 and again.json()["error"] == "company_not_deleted"
    types = [e["type"] for e in await _outbox(client, "auth.company.deleted.v1") + await _outbox(
        client, "auth.company.restored.v1") if e["data"]["company_id"] == a.company["id"]]
    assert sorted(types) == ["auth.company.deleted.v1", "auth.company.restored.v1"]


async def test_company_admin_cannot_delete_and_the_refusal_is_audited(client, signer):
    a = await signup(client, signer)
    r = await client.delete(f"/api/v1/company/{a.company['id']}", headers=_as(signer, a.principal()))
    assert r.status_code == 403
    assert not await client.app.state.redis.exists(COMPANY_DISABLED_KEY.format(company_id=a.company["id"]))
    refused = [e for e in await _outbox(client, "auth.audit.recorded.v1")
               if e["data"]["action"] == "company.deleted" and e["data"]["target_id"] == a.company["id"]]
    assert [e["data"]["outcome"] for e in refused] == ["failure"]
    r = await client.delete(f"/api/v1/company/{uuid.uuid4()}", headers=_as(signer, ROOT))
    assert r.status_code == 404 and r.json()["error"] == "company_not_found"


async def test_bulk_delete_reports_each_id_including_unknown_ones(client, signer):
    a, b = await signup(client, signer), await signup(client, signer)
    unknown = str(uuid.uuid4())
    ids = [a.company["id"], unknown, b.company["id"], a.company["id"]]
    r = await client.request("DELETE", "/api/v1/company/bulk-delete", json={"company_ids": ids},
                             headers=_as(signer, ROOT))
    assert r.status_code == 200 and r.json()["deleted"] == 2
    assert [(i["company_id"], i["result"]) for i in r.json()["results"]] == [
        (a.company["id"], "deleted"), (unknown, "not_found"), (b.company["id"], "deleted")]
    for company in (a, b):
        assert await client.app.state.redis.exists(COMPANY_DISABLED_KEY.format(company_id=company.company["id"]))
    r = await client.patch("/api/v1/company/bulk-restore", json={"company_ids": [a.company["id"], unknown]},
                           headers=_as(signer, ROOT))
    assert r.json()["restored"] == 1
    assert [i["result"] for i in r.json()["results"]] == ["restored", "not_found"]
    assert not await client.app.state.redis.exists(COMPANY_DISABLED_KEY.format(company_id=a.company["id"]))


async def test_bulk_bodies_are_validated(client, signer):
    headers = _as(signer, ROOT)
    for body in ({"company_ids": []}, {"company_ids": ["nope"]}, {"ids": [str(uuid.uuid4())]}, [str(uuid.uuid4())]):
        r = await client.request("DELETE", "/api/v1/company/bulk-delete", json=body, headers=headers)
        assert r.status_code == 422 and r.json()["success"] is False, body


async def test_related_data_counts_what_auth_holds(client, signer):
    a = await signup(client, signer)
    await _add_key(client, a)
    await _add_key(client, a, revoked_at=dt.datetime.now(dt.UTC))
    await _add_address(client, a.company["id"])
    r = await client.get(f"/api/v1/company/{a.company['id']}/related-data", headers=_as(signer, ROOT))
    assert r.status_code == 200
    assert r.json()["related_data"] == {"users": 1, "active_api_keys": 1, "addresses": 1}
    assert "auth.company.deleted.v1" in r.json()["note"]


async def test_cascade_delete_revokes_keys_signs_users_out_and_restore_brings_users_back(client, signer):
    a = await signup(client, signer)
    key = await _add_key(client, a)
    await _add_address(client, a.company["id"])
    r = await client.request("DELETE", f"/api/v1/company/{a.company['id']}/cascade-delete",
                             headers=_as(signer, ROOT))
    assert r.status_code == 200
    assert {k: r.json()["detail"][k] for k in ("users", "addresses", "api_keys_revoked")} == {
        "users": 1, "addresses": 1, "api_keys_revoked": 1}
    async with client.app.state.db.sessions() as s:
        revoked_at = await s.scalar(select(ApiKey.revoked_at).where(ApiKey.id == key["id"]))
        user_deleted = await s.scalar(select(User.deleted_at).where(User.id == uuid.UUID(a.user["id"])))
    assert revoked_at is not None and user_deleted is not None
    revoked = [e for e in await _outbox(client, "auth.api_key.revoked.v1") if e["data"]["api_key_id"] == str(key["id"])]
    assert [e["data"]["key_hash"] for e in revoked] == [key["key_hash"]]
    assert await client.app.state.redis.exists(VALID_AFTER_KEY.format(user_id=a.user["id"]))
    assert await client.app.state.redis.exists(COMPANY_DISABLED_KEY.format(company_id=a.company["id"]))
    cascades = [e for e in await _outbox(client, "auth.company.deleted.v1") if e["data"]["company_id"] == a.company["id"]]
    assert [e["data"]["cascade"] for e in cascades] == [True]

    r = await client.patch(f"/api/v1/company/{a.company['id']}/restore", headers=_as(signer, ROOT))
    assert r.status_code == 200
    counts = await client.get(f"/api/v1/company/{a.company['id']}/related-data", headers=_as(signer, ROOT))
    assert counts.json()["related_data"] == {"users": 1, "active_api_keys": 0, "addresses": 1}


async def test_cascade_delete_with_delete_related_false_deletes_the_company_alone(client, signer):
    a = await signup(client, signer)
    await _add_key(client, a)
    r = await client.request("DELETE", f"/api/v1/company/{a.company['id']}/cascade-delete",
                             json={"delete_related": False}, headers=_as(signer, ROOT))
    assert r.status_code == 200 and r.json()["company"]["deleted_at"] is not None
    counts = await client.get(f"/api/v1/company/{a.company['id']}/related-data", headers=_as(signer, ROOT))
    assert counts.json()["is_deleted"] is True
    assert counts.json()["related_data"] == {"users": 1, "active_api_keys": 1, "addresses": 0}
