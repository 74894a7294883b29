import asyncio
import random
import string
import uuid

import pytest
from sqlalchemy import func, select

from knowrithm_auth.models import Address, Company, shared
from knowrithm_common.identity import Principal, Role

SUPER = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _iso() -> str:
    # ISO 3166-1 keeps QMA-QZZ for user assignment, so these never clash with seeded codes.
    return "Q" + random.choice(string.ascii_uppercase[12:]) + random.choice(string.ascii_uppercase)


async def _company(client) -> uuid.UUID:
    company_id = uuid.uuid4()
    async with client.app.state.db.session() as s, s.begin():
        s.add(Company(id=company_id, name=f"Geo {_tag()}", email=f"geo-{_tag()}@example.com"))
    return company_id


def _admin(company_id, **over) -> Principal:
    return Principal(**{"kind": "user", "company_id": company_id, "user_id": uuid.uuid4(),
                        "role": Role.ADMIN, **over})


@pytest.fixture
async def place(call):
    """A fresh country with a state and a city in it (ids), created by a super admin."""
    country = (await call("POST", "/api/v1/country", SUPER, json={"name": f"Testland {_tag()}"})).json()
    state = (await call("POST", "/api/v1/state", SUPER, json={"name": "North", "country_id": country["id"]})).json()
    city = (await call("POST", "/api/v1/city", SUPER, json={"name": "Capital", "state_id": state["id"]})).json()
    return {"country": country["id"], "state": state["id"], "city": city["id"]}


def _address(place, **over):
    return {"street_address": "1 Main Street", "city_id": place["city"], "state_id": place["state"],
            "country_id": place["country"], "postal_code": "10115", "lat": 52.52, "lan": 13.405, **over}


async def _audited(client, action, target_id):
    async with client.app.state.db.sessions() as s:
        envelopes = (await s.execute(select(shared.outbox.c.envelope))).scalars().all()
    return [e["data"] for e in envelopes
            if e["data"].get("action") == action and e["data"].get("target_id") == str(target_id)]


# -- seeding


async def test_concurrent_seeds_add_every_country_once_and_the_later_one_reports_zero(call):
    before = len((await call("GET", "/api/v1/country")).json())
    first, second = await asyncio.gather(call("GET", "/api/v1/address-seed"), call("GET", "/api/v1/address-seed"))
    assert first.status_code == second.status_code == 200
    created = sorted([first.json()["countries_created"], second.json()["countries_created"]])
    after = (await call("GET", "/api/v1/country")).json()
    assert created == [0, len(after) - before]
    assert len({c["name"] for c in after}) == len(after)


async def test_seed_gives_real_countries_and_their_states_and_a_repeat_adds_nothing(call):
    await call("GET", "/api/v1/address-seed")
    again = await call("GET", "/api/v1/address-seed")
    assert again.status_code == 200
    body = again.json()
    assert (body["countries_created"], body["states_created"], body["cities_created"]) == (0, 0, 0)
    assert body["countries_total"] >= 249 and body["states_total"] >= 3000
    assert "POST /api/v1/city" in body["message"]
    countries = {c["iso_code"]: c for c in (await call("GET", "/api/v1/country")).json()}
    assert countries["DEU"]["name"] == "Germany" and countries["USA"]["name"] == "United States"
    states = (await call("GET", f"/api/v1/state/country/{countries['DEU']['id']}")).json()
    assert "Bayern" in [s["name"] for s in states] and len(states) == 16
    assert states[0]["country"] == {"id": countries["DEU"]["id"], "name": "Germany"}
    detail = (await call("GET", f"/api/v1/country/{countries['USA']['id']}")).json()
    assert "California" in [s["name"] for s in detail["state"]]


# -- reference data


async def test_super_admin_creates_country_state_and_city_and_anyone_reads_them(call, client):
    name = f"Testland {_tag()}"
    iso = _iso()
    r = await call("POST", "/api/v1/country", SUPER, json={"name": name, "iso_code": iso.lower()})
    assert r.status_code == 201 and r.json()["iso_code"] == iso
    country = r.json()
    r = await call("POST", "/api/v1/state", SUPER, json={"name": "Lakeside", "country_id": country["id"]})
    assert r.status_code == 201 and r.json()["country"] == {"id": country["id"], "name": name}
    state = r.json()
    r = await call("POST", "/api/v1/city", SUPER,
                   json={"name": "Port Town", "state_id": state["id"], "postal_code_prefix": "90"})
    assert r.status_code == 201
    city = r.json()
    assert city["state"] == {"id": state["id"], "name": "Lakeside"} and city["country"]["id"] == country["id"]

    assert name in [c["name"] for c in (await call("GET", "/api/v1/country")).json()]
    got = (await call("GET", f"/api/v1/country/{country['id']}")).json()
    assert got["iso_code"] == iso and got["state"] == [{"id": state["id"], "name": "Lakeside"}]
    got = (await call("GET", f"/api/v1/state/{state['id']}")).json()
    assert got["city"] == [{"id": city["id"], "name": "Port Town", "postal_code_prefix": "90"}]
    listed = (await call("GET", f"/api/v1/city/state/{state['id']}")).json()
    assert [c["id"] for c in listed] == [city["id"]]
    got = await call("GET", f"/api/v1/city/{city['id']}")
    assert got.status_code == 200 and got.json()["name"] == "Port Town"
    assert await _audited(client, "country.created", country["id"])
    assert await _audited(client, "city.created", city["id"])


async def test_patch_renames_and_recodes_reference_data(call, place, client):
    iso = _iso()
    r = await call("PATCH", f"/api/v1/country/{place['country']}", SUPER, json={"iso_code": iso})
    assert r.status_code == 200 and r.json()["iso_code"] == iso
    r = await call("PATCH", f"/api/v1/state/{place['state']}", SUPER, json={"name": "Northern Province"})
    assert r.status_code == 200 and r.json()["name"] == "Northern Province"
    r = await call("PATCH", f"/api/v1/city/{place['city']}", SUPER, json={"postal_code_prefix": "12"})
    assert r.status_code == 200 and r.json()["postal_code_prefix"] == "12"
    assert (await call("GET", f"/api/v1/city/{place['city']}")).json()["state"]["name"] == "Northern Province"
    [audited] = await _audited(client, "state.updated", place["state"])
    assert audited["detail"]["after"] == {"name": "Northern Province"}


async def test_patch_with_null_name_is_422(call, place):
    r = await call("PATCH", f"/api/v1/country/{place['country']}", SUPER, json={"name": None})
    assert r.status_code == 422 and r.json()["error"] == "validation_error"


async def test_duplicates_are_409_case_insensitively(call, place):
    country = (await call("GET", f"/api/v1/country/{place['country']}")).json()
    r = await call("POST", "/api/v1/country", SUPER, json={"name": country["name"].upper()})
    assert r.status_code == 409 and r.json()["error"] == "country_exists"
    iso = _iso()
    await call("PATCH", f"/api/v1/country/{place['country']}", SUPER, json={"iso_code": iso})
    r = await call("POST", "/api/v1/country", SUPER, json={"name": f"Other {_tag()}", "iso_code": iso})
    assert r.status_code == 409 and "iso code" in r.json()["message"]
    r = await call("POST", "/api/v1/state", SUPER, json={"name": "north", "country_id": place["country"]})
    assert r.status_code == 409 and r.json()["error"] == "state_exists"
    r = await call("POST", "/api/v1/city", SUPER, json={"name": "Capital", "state_id": place["state"]})
    assert r.status_code == 409 and r.json()["error"] == "city_exists"
    second = (await call("POST", "/api/v1/state", SUPER, json={"name": "South", "country_id": place["country"]})).json()
    r = await call("PATCH", f"/api/v1/state/{second['id']}", SUPER, json={"name": "North"})
    assert r.status_code == 409


async def test_same_state_name_in_another_country_is_allowed(call, place):
    other = (await call("POST", "/api/v1/country", SUPER, json={"name": f"Testland {_tag()}"})).json()
    r = await call("POST", "/api/v1/state", SUPER, json={"name": "North", "country_id": other["id"]})
    assert r.status_code == 201


@pytest.mark.parametrize(("method", "path", "body", "error"), [
    ("GET", "/api/v1/country/2000000000", None, "country_not_found"),
    ("GET", "/api/v1/state/country/2000000000", None, "country_not_found"),
    ("GET", "/api/v1/state/2000000000", None, "state_not_found"),
    ("GET", "/api/v1/city/state/2000000000", None, "state_not_found"),
    ("GET", "/api/v1/city/2000000000", None, "city_not_found"),
    ("PATCH", "/api/v1/country/2000000000", {"name": "X"}, "country_not_found"),
    ("PATCH", "/api/v1/city/2000000000", {"name": "X"}, "city_not_found"),
    ("POST", "/api/v1/state", {"name": "X", "country_id": 2000000000}, "country_not_found"),
    ("POST", "/api/v1/city", {"name": "X", "state_id": 2000000000}, "state_not_found"),
])
async def test_unknown_ids_are_404(call, method, path, body, error):
    r = await call(method, path, SUPER, json=body)
    assert r.status_code == 404 and r.json()["error"] == error


async def test_moving_a_state_to_an_unknown_country_is_404_and_changes_nothing(call, place):
    r = await call("PATCH", f"/api/v1/state/{place['state']}", SUPER, json={"country_id": 2000000000})
    assert r.status_code == 404
    assert (await call("GET", f"/api/v1/state/{place['state']}")).json()["country"]["id"] == place["country"]


async def test_company_admin_cannot_change_reference_data_and_the_refusal_is_audited(call, place, client):
    admin = _admin(await _company(client))
    for method, path, body in [
        ("POST", "/api/v1/country", {"name": f"Nope {_tag()}"}),
        ("PATCH", f"/api/v1/country/{place['country']}", {"name": "Renamed"}),
        ("POST", "/api/v1/state", {"name": "Nope", "country_id": place["country"]}),
        ("PATCH", f"/api/v1/state/{place['state']}", {"name": "Renamed"}),
        ("POST", "/api/v1/city", {"name": "Nope", "state_id": place["state"]}),
        ("PATCH", f"/api/v1/city/{place['city']}", {"name": "Renamed"}),
    ]:
        r = await call(method, path, admin, json=body)
        assert r.status_code == 403, (method, path)
    assert (await call("GET", f"/api/v1/city/{place['city']}")).json()["name"] == "Capital"
    async with client.app.state.db.sessions() as s:
        envelopes = (await s.execute(select(shared.outbox.c.envelope))).scalars().all()
    refusals = [e for e in envelopes if e["data"].get("outcome") == "failure"
                and e["actor"] and e["actor"].get("id") == str(admin.user_id)]
    assert {e["data"]["action"] for e in refusals} == {
        "country.created", "country.updated", "state.created", "state.updated", "city.created", "city.updated"
    }


async def test_anonymous_writes_are_401(call):
    r = await call("POST", "/api/v1/country", json={"name": f"Anon {_tag()}"})
    assert r.status_code == 401


async def test_wrong_types_are_rejected_in_the_shared_error_shape(call, place):
    r = await call("GET", "/api/v1/country/abc")
    assert r.status_code == 422 and r.json()["success"] is False and r.json()["error"] == "validation_error"
    r = await call("GET", "/api/v1/city/99999999999")
    assert r.status_code == 422
    r = await call("POST", "/api/v1/state", SUPER, json={"name": "Typed", "country_id": str(place["country"])})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "country_id"
    r = await call("POST", "/api/v1/country", SUPER, json={"name": "Bad code", "iso_code": "U1"})
    assert r.status_code == 422
    r = await call("POST", "/api/v1/country", SUPER, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"


# -- addresses


async def test_first_address_becomes_the_company_primary_and_a_later_primary_takes_over(call, place, client):
    company_id = await _company(client)
    admin = _admin(company_id)
    r = await call("POST", "/api/v1/address", admin, json=_address(place))
    assert r.status_code == 201
    first = r.json()
    assert first["is_primary"] is True
    assert first["city"] == {"id": place["city"], "name": "Capital"} and first["state"]["name"] == "North"
    second = (await call("POST", "/api/v1/address", admin, json=_address(place, street_address="2 Side St"))).json()
    assert second["is_primary"] is False
    third = (await call("POST", "/api/v1/address", admin,
                        json=_address(place, street_address="3 New Rd", is_primary=True))).json()
    listed = (await call("GET", "/api/v1/address", admin)).json()["address"]
    assert [(a["id"], a["is_primary"]) for a in listed] == [
        (third["id"], True), (first["id"], False), (second["id"], False)
    ]
    async with client.app.state.db.sessions() as s:
        assert (await s.get(Company, company_id)).address_id == third["id"]
    assert await _audited(client, "address.created", third["id"])


async def test_address_of_company_a_is_not_visible_to_company_b(call, place, client):
    a, b = _admin(await _company(client)), _admin(await _company(client))
    created = (await call("POST", "/api/v1/address", a, json=_address(place))).json()
    seen_by_b = (await call("GET", "/api/v1/address", b)).json()["address"]
    assert created["id"] not in [x["id"] for x in seen_by_b]
    seen_by_a = (await call("GET", "/api/v1/address", a)).json()["address"]
    assert [x["id"] for x in seen_by_a] == [created["id"]]


async def test_address_with_a_city_outside_its_state_is_400_and_nothing_is_written(call, place, client):
    company_id = await _company(client)
    other = (await call("POST", "/api/v1/state", SUPER, json={"name": "South", "country_id": place["country"]})).json()
    r = await call("POST", "/api/v1/address", _admin(company_id), json=_address(place, state_id=other["id"]))
    assert r.status_code == 400 and r.json()["error"] == "inconsistent_address"
    assert "Capital" in r.json()["message"] and "South" in r.json()["message"]
    foreign = (await call("POST", "/api/v1/country", SUPER, json={"name": f"Testland {_tag()}"})).json()
    r = await call("POST", "/api/v1/address", _admin(company_id), json=_address(place, country_id=foreign["id"]))
    assert r.status_code == 400 and "not in country" in r.json()["message"]
    async with client.app.state.db.sessions() as s:
        count = await s.scalar(select(func.count()).select_from(Address).where(Address.company_id == company_id))
        assert count == 0 and (await s.get(Company, company_id)).address_id is None


async def test_address_with_an_unknown_city_is_404(call, place, client):
    r = await call("POST", "/api/v1/address", _admin(await _company(client)), json=_address(place, city_id=2000000000))
    assert r.status_code == 404 and r.json()["error"] == "city_not_found"


async def test_address_with_wrong_types_is_422(call, place, client):
    admin = _admin(await _company(client))
    r = await call("POST", "/api/v1/address", admin, json=_address(place, city_id="one"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "city_id"
    r = await call("POST", "/api/v1/address", admin, json=_address(place, lat=123.0))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "lat"
    r = await call("POST", "/api/v1/address", admin, json={"street_address": "no place"})
    assert r.status_code == 422


async def test_super_admin_on_address_routes_without_company_id_is_400_company_id_required(call, place):
    # Issue 14: geo had a CompanyRequired of its own (403 `company_required`); the one shared
    # CompanyRequired answers 400 `company_id_required`, as every other service does.
    for method, body in (("POST", _address(place)), ("GET", None)):
        r = await call(method, "/api/v1/address", SUPER, json=body)
        assert r.status_code == 400 and r.json()["error"] == "company_id_required"


async def test_super_admin_naming_a_company_adds_and_lists_its_addresses(call, place, client):
    company_id = await _company(client)
    r = await call("POST", f"/api/v1/address?company_id={company_id}", SUPER, json=_address(place))
    assert r.status_code == 201 and r.json()["is_primary"] is True
    listed = (await call("GET", f"/api/v1/address?company_id={company_id}", SUPER)).json()["address"]
    assert [a["id"] for a in listed] == [r.json()["id"]]
    admin = _admin(company_id)
    assert [a["id"] for a in (await call("GET", "/api/v1/address", admin)).json()["address"]] == [r.json()["id"]]
    r = await call("GET", f"/api/v1/address?company_id={company_id}", _admin(await _company(client)))
    assert r.status_code == 404 and r.json()["error"] == "company_not_found"


async def test_only_company_admins_and_write_keys_add_addresses(call, place, client):
    company_id = await _company(client)
    member = _admin(company_id, role=Role.USER)
    r = await call("POST", "/api/v1/address", member, json=_address(place))
    assert r.status_code == 403
    assert (await call("GET", "/api/v1/address", member)).status_code == 200
    read_key = Principal(kind="api_key", company_id=company_id, role=Role.ADMIN, scopes=["read"],
                         api_key_id=uuid.uuid4())
    r = await call("POST", "/api/v1/address", read_key, json=_address(place))
    assert r.status_code == 403
    write_key = read_key.model_copy(update={"role": Role.USER, "scopes": ["write", "read"]})
    r = await call("POST", "/api/v1/address", write_key, json=_address(place))
    assert r.status_code == 201
    assert (await call("GET", "/api/v1/address")).status_code == 401


async def test_moving_a_city_to_another_state_moves_its_addresses_too(call, place, client):
    admin = _admin(await _company(client))
    address = (await call("POST", "/api/v1/address", admin, json=_address(place))).json()
    other_country = (await call("POST", "/api/v1/country", SUPER, json={"name": f"Testland {_tag()}"})).json()
    other_state = (await call("POST", "/api/v1/state", SUPER,
                              json={"name": "East", "country_id": other_country["id"]})).json()
    r = await call("PATCH", f"/api/v1/city/{place['city']}", SUPER, json={"state_id": other_state["id"]})
    assert r.status_code == 200 and r.json()["country"]["id"] == other_country["id"]
    [listed] = (await call("GET", "/api/v1/address", admin)).json()["address"]
    assert listed["id"] == address["id"]
    assert (listed["state"]["id"], listed["country"]["id"]) == (other_state["id"], other_country["id"])

