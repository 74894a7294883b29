"""Agents: the list of the company's soft-deleted agents (restorable), its tenancy, roles and paging."""

import pytest

from .support import OFFLINE, SUPER, api_key, catalogue, company_principals, ids


@pytest.fixture
def company():
    return company_principals()


async def admin_with_settings(call, company):
    _, admin, _ = company
    cat = await catalogue(call)
    r = await call("POST", "/api/v1/settings", admin, json={**ids(cat, *OFFLINE), "is_default": True})
    assert r.status_code == 201, r.text
    return admin


async def make_agent(call, admin, name):
    r = await call("POST", "/api/v1/agent", admin, json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()


async def test_deleted_agents_are_listed_newest_deletion_first_and_restore_takes_them_off(call, company):
    admin = await admin_with_settings(call, company)
    first, second, live = [await make_agent(call, admin, n) for n in ("First", "Second", "Live")]
    assert (await call("GET", "/api/v1/agent/deleted", admin)).json()["deleted_agents"] == []
    for agent in (second, first):
        assert (await call("DELETE", f"/api/v1/agent/{agent['id']}", admin)).status_code == 200
    r = await call("GET", "/api/v1/agent/deleted", admin)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [a["name"] for a in listed["deleted_agents"]] == ["First", "Second"]
    assert listed["pagination"]["total"] == 2
    assert all(a["deleted_at"] and a["configuration"]["llm_provider"] == "offline" for a in listed["deleted_agents"])
    live_list = (await call("GET", "/api/v1/agent", admin)).json()
    assert [a["name"] for a in live_list["agents"]] == ["Live"]
    assert live["id"] not in [a["id"] for a in listed["deleted_agents"]]

    assert (await call("PATCH", f"/api/v1/agent/{first['id']}/restore", admin)).status_code == 200
    after = (await call("GET", "/api/v1/agent/deleted", admin)).json()
    assert [a["name"] for a in after["deleted_agents"]] == ["Second"]
    assert sorted(a["name"] for a in (await call("GET", "/api/v1/agent", admin)).json()["agents"]) == [
        "First", "Live"
    ]


async def test_another_companys_deleted_agents_are_not_listed(call, company):
    admin = await admin_with_settings(call, company)
    other = company_principals()
    other_admin = await admin_with_settings(call, other)
    mine = await make_agent(call, admin, "Mine")
    theirs = await make_agent(call, other_admin, "Theirs")
    for who, agent in ((admin, mine), (other_admin, theirs)):
        assert (await call("DELETE", f"/api/v1/agent/{agent['id']}", who)).status_code == 200
    listed = (await call("GET", "/api/v1/agent/deleted", admin)).json()
    assert [a["id"] for a in listed["deleted_agents"]] == [mine["id"]]
    chosen = await call("GET", f"/api/v1/agent/deleted?company_id={other[0]}", SUPER)
    assert chosen.status_code == 200
    assert [a["id"] for a in chosen.json()["deleted_agents"]] == [theirs["id"]]


async def test_only_admins_and_read_keys_list_deleted_agents(call, company):
    company_id, admin, user = company
    await admin_with_settings(call, company)
    assert (await call("GET", "/api/v1/agent/deleted", user)).status_code == 403
    assert (await call("GET", "/api/v1/agent/deleted", api_key(company_id, "read"))).status_code == 200
    assert (await call("GET", "/api/v1/agent/deleted")).status_code == 401
    assert (await call("GET", "/api/v1/agent/deleted?per_page=0", admin)).status_code == 422


async def test_deleted_agents_are_paginated(call, company):
    admin = await admin_with_settings(call, company)
    names = [f"Gone {i}" for i in range(5)]
    for name in names:
        agent = await make_agent(call, admin, name)
        assert (await call("DELETE", f"/api/v1/agent/{agent['id']}", admin)).status_code == 200
    r = await call("GET", "/api/v1/agent/deleted?per_page=2&page=3", admin)
    page = r.json()
    assert page["pagination"]["total"] == 5 and page["pagination"]["pages"] == 3
    assert page["pagination"]["has_prev"] is True and page["pagination"]["has_next"] is False
    assert [a["name"] for a in page["deleted_agents"]] == ["Gone 0"]
