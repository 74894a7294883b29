"""Agents: CRUD with company- or agent-level settings, filters, tenancy, roles, bad input, events."""

import uuid

import pytest
from sqlalchemy import select

from knowrithm_agents.models import shared

from .support import OFFLINE, SUPER, api_key, catalogue, company_principals, ids

RAW_KEY = "sk-agent-" + uuid.uuid4().hex
GEMINI = (("gemini", "gemini-2.5-flash"), ("gemini", "gemini-embedding-001"))


@pytest.fixture
async def cat(call):
    return await catalogue(call)


@pytest.fixture
def company():
    return company_principals()


async def outbox(client, prefix="agents.agent."):
    async with client.app.state.db.sessions() as s:
        rows = await s.execute(
            select(shared.outbox.c.envelope).order_by(shared.outbox.c.created_at, shared.outbox.c.id)
        )
    return [e for e in rows.scalars().all() if e["type"].startswith(prefix)]


async def company_settings(call, cat, admin):
    r = await call("POST", "/api/v1/settings", admin, json={**ids(cat, *OFFLINE), "is_default": True})
    assert r.status_code == 201, r.text
    return r.json()


async def make_agent(call, admin, **over):
    body = {"name": "Bot " + uuid.uuid4().hex[:8], **over}
    r = await call("POST", "/api/v1/agent", admin, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_agent_without_settings_runs_on_the_company_default(call, cat, company):
    _, admin, user = company
    default = await company_settings(call, cat, admin)
    body = {
        "name": "Support Bot",
        "description": "Answers questions",
        "personality_traits": {"tone": "friendly"},
        "capabilities": ["faq"],
        "languages": ["en", "fr"],
        "operating_hours": {"mon": "9-17"},
        "widget_config": {"color": "#123456"},
        "status": "training",
    }
    created = await make_agent(call, admin, **body)
    assert {k: created[k] for k in body} == body
    config = created["configuration"]
    assert config["settings_id"] == default["id"] and config["settings_level"] == "company"
    assert config["llm_model"] == "extractive-responder"
    got = await call("GET", f"/api/v1/agent/{created['id']}", user)
    assert got.status_code == 200 and got.json() == created


async def test_agent_with_own_settings_overrides_the_company_and_never_shows_the_key(call, cat, company):
    _, admin, user = company
    await company_settings(call, cat, admin)
    created = await make_agent(
        call, admin, **ids(cat, *GEMINI), llm_api_key=RAW_KEY, embedding_api_key=RAW_KEY, llm_temperature=0.3
    )
    config = created["configuration"]
    assert config["settings_level"] == "agent" and config["llm_provider"] == "gemini"
    assert config["llm_temperature"] == 0.3 and config["embedding_dimension"] == 3072
    own = await call("GET", f"/api/v1/settings/agent/{created['id']}", user)
    assert own.json()["llm_api_key_hint"] == "••••" + RAW_KEY[-4:]
    responses = [
        await call("GET", f"/api/v1/agent/{created['id']}", user),
        await call("GET", "/api/v1/agent", user),
        await call("GET", f"/api/v1/agent/by-name/{created['name']}", user),
        await call("POST", f"/api/v1/agent/{created['id']}/clone", admin),
        await call("PUT", f"/api/v1/agent/{created['id']}", admin, json={"llm_api_key": RAW_KEY[::-1]}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 201, 200], [r.text for r in responses]
    for r in responses:
        assert RAW_KEY not in r.text and RAW_KEY[::-1] not in r.text


async def test_creating_an_agent_without_any_settings_explains_what_to_do(call, cat, company):
    _, admin, _ = company
    r = await call("POST", "/api/v1/agent", admin, json={"name": "Lonely"})
    assert r.status_code == 400 and r.json()["error"] == "settings_required"
    assert "POST /api/v1/settings" in r.json()["message"]
    partial = await call(
        "POST", "/api/v1/agent", admin, json={"name": "Half", "llm_provider_id": cat["offline"]["id"]}
    )
    assert partial.status_code == 400 and "llm_model_id" in partial.json()["message"]


async def test_list_filters_by_status_searches_and_paginates(call, cat, company):
    _, admin, user = company
    await company_settings(call, cat, admin)
    for i in range(3):
        await make_agent(call, admin, name=f"Sales {i}", description="sells things")
    await make_agent(call, admin, name="Helper", description="support desk", status="inactive")
    r = await call("GET", "/api/v1/agent?per_page=2&page=2", user)
    assert r.status_code == 200
    page = r.json()
    assert page["pagination"]["total"] == 4 and page["pagination"]["pages"] == 2 and len(page["agents"]) == 2
    assert page["pagination"]["has_prev"] is True and page["pagination"]["has_next"] is False
    inactive = (await call("GET", "/api/v1/agent?status=inactive", user)).json()
    assert [a["name"] for a in inactive["agents"]] == ["Helper"]
    found = (await call("GET", "/api/v1/agent?search=SUPPORT", user)).json()
    assert [a["name"] for a in found["agents"]] == ["Helper"]
    sales = (await call("GET", "/api/v1/agent?search=sales", api_key(company[0], "read"))).json()
    assert sorted(a["name"] for a in sales["agents"]) == ["Sales 0", "Sales 1", "Sales 2"]
    assert all(a["configuration"]["llm_provider"] == "offline" for a in sales["agents"])
    assert (await call("GET", "/api/v1/agent?status=sleeping", user)).status_code == 422


async def test_duplicate_live_name_is_a_conflict_but_a_deleted_name_is_free(call, cat, company):
    _, admin, _ = company
    await company_settings(call, cat, admin)
    first = await make_agent(call, admin, name="Twin")
    dup = await call("POST", "/api/v1/agent", admin, json={"name": "Twin"})
    assert dup.status_code == 409 and dup.json()["error"] == "agent_name_taken"
    other = await make_agent(call, admin, name="Other")
    renamed = await call("PUT", f"/api/v1/agent/{other['id']}", admin, json={"name": "Twin"})
    assert renamed.status_code == 409
    assert (await call("DELETE", f"/api/v1/agent/{first['id']}", admin)).status_code == 200
    await make_agent(call, admin, name="Twin")
    restore = await call("PATCH", f"/api/v1/agent/{first['id']}/restore", admin)
    assert restore.status_code == 409


async def test_update_delete_and_restore(call, cat, company):
    _, admin, user = company
    await company_settings(call, cat, admin)
    agent = await make_agent(call, admin, description="old")
    r = await call("PUT", f"/api/v1/agent/{agent['id']}", admin, json={"status": "maintenance"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "maintenance" and r.json()["description"] == "old"
    deleted = await call("DELETE", f"/api/v1/agent/{agent['id']}", admin)
    assert deleted.status_code == 200 and deleted.json()["success"] is True
    assert (await call("GET", f"/api/v1/agent/{agent['id']}", user)).status_code == 404
    listed = (await call("GET", "/api/v1/agent", user)).json()
    assert agent["id"] not in [a["id"] for a in listed["agents"]]
    restored = await call("PATCH", f"/api/v1/agent/{agent['id']}/restore", admin)
    assert restored.status_code == 200 and restored.json()["status"] == "maintenance"
    assert (await call("GET", f"/api/v1/agent/{agent['id']}", user)).status_code == 200
    again = await call("PATCH", f"/api/v1/agent/{agent['id']}/restore", admin)
    assert again.status_code == 404


async def test_settings_fields_in_an_update_change_the_agents_own_settings(call, cat, company):
    _, admin, _ = company
    await company_settings(call, cat, admin)
    agent = await make_agent(call, admin)
    needs_ids = await call("PUT", f"/api/v1/agent/{agent['id']}", admin, json={"llm_temperature": 0.1})
    assert needs_ids.status_code == 400 and "llm_provider_id" in needs_ids.json()["message"]
    own = await call(
        "PUT", f"/api/v1/agent/{agent['id']}", admin, json={**ids(cat, *OFFLINE), "llm_temperature": 0.1}
    )
    assert own.status_code == 200, own.text
    assert own.json()["configuration"]["settings_level"] == "agent"
    tuned = await call("PUT", f"/api/v1/agent/{agent['id']}", admin, json={"llm_max_tokens": 42})
    config = tuned.json()["configuration"]
    assert config["llm_max_tokens"] == 42 and config["llm_temperature"] == 0.1


async def test_clone_copies_configuration_and_own_settings_under_a_unique_name(call, cat, company):
    _, admin, _ = company
    source = await make_agent(
        call, admin, name="Original", **ids(cat, *GEMINI), llm_api_key=RAW_KEY, widget_config={"a": 1}
    )
    first = await call("POST", f"/api/v1/agent/{source['id']}/clone", admin)
    second = await call("POST", f"/api/v1/agent/{source['id']}/clone", admin, json={})
    named = await call("POST", f"/api/v1/agent/{source['id']}/clone", admin, json={"name": "Mine"})
    assert [r.status_code for r in (first, second, named)] == [201, 201, 201], first.text
    assert [first.json()["name"], second.json()["name"], named.json()["name"]] == [
        "Original (copy)",
        "Original (copy 2)",
        "Mine",
    ]
    clone = first.json()
    assert clone["widget_config"] == {"a": 1} and clone["id"] != source["id"]
    assert clone["configuration"]["settings_level"] == "agent"
    assert clone["configuration"]["settings_id"] != source["configuration"]["settings_id"]
    skip = {"settings_id"}
    assert {k: v for k, v in clone["configuration"].items() if k not in skip} == {
        k: v for k, v in source["configuration"].items() if k not in skip
    }
    hint = await call("GET", f"/api/v1/settings/agent/{clone['id']}", admin)
    assert hint.json()["llm_api_key_hint"] == "••••" + RAW_KEY[-4:]
    dup = await call("POST", f"/api/v1/agent/{source['id']}/clone", admin, json={"name": "Mine"})
    assert dup.status_code == 409


async def test_by_name_and_embed_code(call, cat, company):
    _, admin, user = company
    await company_settings(call, cat, admin)
    agent = await make_agent(call, admin, name="Desk Bot", widget_config={"theme": "dark"})
    r = await call("GET", "/api/v1/agent/by-name/Desk Bot", user)
    assert r.status_code == 200 and r.json()["id"] == agent["id"]
    assert (await call("GET", "/api/v1/agent/by-name/nobody", user)).status_code == 404
    code = await call("GET", f"/api/v1/agent/{agent['id']}/embed-code", user)
    assert code.status_code == 200, code.text
    out = code.json()
    assert out["embed_code"] == (
        f'<script src="http://127.0.0.1:8543/widget.js" data-agent-id="{agent["id"]}" async></script>'
    )
    assert out["widget_config"] == {"theme": "dark"} and out["script_url"].endswith("/widget.js")


async def test_another_companys_agent_is_not_found_on_every_route(call, cat, company):
    _, admin, _ = company
    await company_settings(call, cat, admin)
    agent = await make_agent(call, admin, name="Secret")
    aid = agent["id"]
    _, other_admin, _ = company_principals()
    for method, path, kw in [
        ("GET", f"/api/v1/agent/{aid}", {}),
        ("PUT", f"/api/v1/agent/{aid}", {"json": {"status": "inactive"}}),
        ("DELETE", f"/api/v1/agent/{aid}", {}),
        ("PATCH", f"/api/v1/agent/{aid}/restore", {}),
        ("POST", f"/api/v1/agent/{aid}/clone", {}),
        ("GET", f"/api/v1/agent/{aid}/embed-code", {}),
        ("GET", "/api/v1/agent/by-name/Secret", {}),
        ("PUT", f"/api/v1/sdk/agent/{aid}", {"json": {"status": "inactive"}}),
        ("DELETE", f"/api/v1/sdk/agent/{aid}", {}),
        ("GET", f"/api/v1/agent?company_id={company[0]}", {}),
    ]:
        r = await call(method, path, other_admin, **kw)
        assert r.status_code == 404, (method, path, r.text)
    listed = (await call("GET", "/api/v1/agent", other_admin)).json()
    assert listed["agents"] == []
    assert (await call("GET", f"/api/v1/agent/{aid}", SUPER)).status_code == 200


async def test_members_and_read_keys_read_only_admins_and_scoped_keys_write(call, cat, company):
    company_id, admin, user = company
    await company_settings(call, cat, admin)
    agent = await make_agent(call, admin)
    aid = agent["id"]
    read = api_key(company_id, "read")
    for principal in (user, read):
        assert (await call("GET", f"/api/v1/agent/{aid}", principal)).status_code == 200
        assert (await call("POST", "/api/v1/agent", principal, json={"name": "x"})).status_code == 403
        assert (await call("PUT", f"/api/v1/agent/{aid}", principal, json={"status": "inactive"})).status_code == 403
        assert (await call("DELETE", f"/api/v1/agent/{aid}", principal)).status_code == 403
    write = api_key(company_id, "write")
    assert (await call("POST", "/api/v1/agent", write, json={"name": "By key"})).status_code == 201
    assert (await call("DELETE", f"/api/v1/agent/{aid}", api_key(company_id, "update"))).status_code == 403
    assert (await call("DELETE", f"/api/v1/agent/{aid}", api_key(company_id, "delete"))).status_code == 200
    assert (await call("PATCH", f"/api/v1/agent/{aid}/restore", api_key(company_id, "update"))).status_code == 200
    assert (await call("GET", "/api/v1/agent")).status_code == 401


async def test_super_admin_names_the_company_to_create(call, cat, company):
    company_id, admin, _ = company
    await company_settings(call, cat, admin)
    missing = await call("POST", "/api/v1/agent", SUPER, json={"name": "Root bot"})
    assert missing.status_code == 400 and missing.json()["error"] == "company_id_required"
    r = await call("POST", "/api/v1/agent", SUPER, json={"name": "Root bot", "company_id": str(company_id)})
    assert r.status_code == 201 and r.json()["company_id"] == str(company_id)
    foreign = await call("POST", "/api/v1/agent", admin, json={"name": "X", "company_id": str(uuid.uuid4())})
    assert foreign.status_code == 404


@pytest.mark.parametrize(
    ("case", "status", "field"),
    [
        ("unknown_provider", 404, "llm_provider_id"),
        ("unknown_model", 404, "llm_model_id"),
        ("embedding_as_chat", 400, "llm_model_id"),
        ("hot", 422, "llm_temperature"),
        ("capabilities_not_a_list", 422, "capabilities"),
        ("bad_status", 422, "status"),
        ("name_not_a_string", 422, "name"),
        ("unknown_field", 422, "colour"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(call, cat, company, case, status, field):
    _, admin, _ = company
    body = {"name": "Bad " + case, **ids(cat, *OFFLINE)}
    match case:
        case "unknown_provider":
            body["llm_provider_id"] = str(uuid.uuid4())
        case "unknown_model":
            body["llm_model_id"] = str(uuid.uuid4())
        case "embedding_as_chat":
            body["llm_model_id"] = cat["offline"]["models"]["offline-embedder"]
        case "hot":
            body["llm_temperature"] = 3
        case "capabilities_not_a_list":
            body["capabilities"] = "faq"
        case "bad_status":
            body["status"] = "asleep"
        case "name_not_a_string":
            body["name"] = {"x": 1}
        case "unknown_field":
            body["colour"] = "red"
    r = await call("POST", "/api/v1/agent", admin, json=body)
    assert r.status_code == status, r.text
    assert field in r.text
    listed = (await call("GET", "/api/v1/agent", admin)).json()
    assert listed["agents"] == []


async def test_each_write_records_its_event_with_the_configuration_and_no_key(client, call, cat, company):
    _, admin, _ = company
    await company_settings(call, cat, admin)
    agent = await make_agent(call, admin, **ids(cat, *GEMINI), llm_api_key=RAW_KEY)
    aid = agent["id"]
    await call("PUT", f"/api/v1/agent/{aid}", admin, json={"description": "new"})
    await call("PUT", f"/api/v1/agent/{aid}", admin, json=ids(cat, ("gemini", "gemini-2.5-flash"),
                                                                ("offline", "offline-embedder")))
    await call("DELETE", f"/api/v1/agent/{aid}", admin)
    await call("PATCH", f"/api/v1/agent/{aid}/restore", admin)
    events = [e for e in await outbox(client) if e["data"]["agent_id"] == aid]
    assert [e["type"].split(".")[2] for e in events] == ["created", "updated", "updated", "deleted", "restored"]
    assert [e["data"].get("reembed_required") for e in events[1:3]] == [False, True]
    assert events[0]["data"]["configuration"]["llm_model"] == "gemini-2.5-flash"
    assert events[2]["data"]["configuration"]["embedding_model"] == "offline-embedder"
    assert all(e["company_id"] == str(company[0]) and e["source"] == "agents" for e in events)
    assert RAW_KEY not in str(events)


async def test_events_record_the_clients_address_the_gateway_passed_not_the_gateways(client, call, cat, company):
    _, admin, _ = company
    client_ip = {"x-knowrithm-client-ip": "203.0.113.7"}
    body = {**ids(cat, *OFFLINE), "is_default": True}
    r = await call("POST", "/api/v1/settings", admin, headers=client_ip, json=body)
    assert r.status_code == 201, r.text
    settings_id = r.json()["id"]
    r = await call("POST", "/api/v1/agent", admin, headers=client_ip, json={"name": "Audited"})
    assert r.status_code == 201, r.text
    created = [e for e in await outbox(client) if e["data"]["agent_id"] == r.json()["id"]]
    changed = [e for e in await outbox(client, "agents.settings.") if e["data"]["settings_id"] == settings_id]
    assert [e["actor"]["ip"] for e in created + changed] == ["203.0.113.7", "203.0.113.7"]
    assert created[0]["actor"]["id"] == str(admin.user_id)
