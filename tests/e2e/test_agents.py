"""Agents through the gateway: by ids and by names, list and search, update, clone, delete and restore."""

import uuid

import pytest

from .accounts import offline_settings, sign_up

pytestmark = pytest.mark.e2e

SECRET = "sk-agent-level-secret-7781"


@pytest.fixture
async def company(gateway):
    account = await sign_up(gateway)
    settings = await offline_settings(gateway, account, is_default=True)
    return account, settings


async def test_agent_lifecycle_by_ids(gateway, company):
    account, _ = company
    auth = account.auth
    name = f"Support {uuid.uuid4().hex[:6]}"
    r = await gateway.post("/api/v1/agent", json={"name": name, "description": "Answers billing questions"},
                           headers=auth)
    assert r.status_code == 201, r.text
    agent = r.json()
    assert (await gateway.get(f"/api/v1/agent/by-name/{name}", headers=auth)).json()["id"] == agent["id"]

    r = await gateway.put(f"/api/v1/agent/{agent['id']}", json={"status": "maintenance"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "maintenance"
    clone = await gateway.post(f"/api/v1/agent/{agent['id']}/clone", json={}, headers=auth)
    assert clone.status_code == 201 and clone.json()["name"] == f"{name} (copy)"

    code = (await gateway.get(f"/api/v1/agent/{agent['id']}/embed-code", headers=auth)).json()
    assert "/widget.js" in str(code) and agent["id"] in str(code)

    assert (await gateway.delete(f"/api/v1/agent/{agent['id']}", headers=auth)).status_code == 200
    assert (await gateway.get(f"/api/v1/agent/{agent['id']}", headers=auth)).status_code == 404
    assert (await gateway.patch(f"/api/v1/agent/{agent['id']}/restore", headers=auth)).status_code == 200
    assert (await gateway.get(f"/api/v1/agent/{agent['id']}", headers=auth)).status_code == 200


async def test_list_searches_and_paginates(gateway, company):
    account, _ = company
    tag = uuid.uuid4().hex[:6]
    for i in range(3):
        r = await gateway.post("/api/v1/agent", json={"name": f"Sales {tag} {i}"}, headers=account.auth)
        assert r.status_code == 201, r.text
    await gateway.post("/api/v1/agent", json={"name": f"Other {tag}"}, headers=account.auth)
    r = await gateway.get("/api/v1/agent", params={"search": f"sales {tag}", "per_page": 2}, headers=account.auth)
    body = r.json()
    assert r.status_code == 200 and len(body["agents"]) == 2
    assert all(a["name"].startswith(f"Sales {tag}") for a in body["agents"])
    assert body["pagination"]["total"] == 3


async def test_agent_settings_override_the_company_and_keys_stay_secret(platform, gateway, company, super_admin_token):
    account, settings = company
    root = {"Authorization": f"Bearer {super_admin_token}"}
    providers = (await gateway.get("/api/v1/providers?include_models=true", headers=root)).json()["providers"]
    (offline,) = [p for p in providers if p["value"] == "offline"]
    models = {m["name"]: m["id"] for m in offline["models"]}
    body = {"name": f"Tuned {uuid.uuid4().hex[:6]}", "llm_provider_id": offline["id"],
            "llm_model_id": models["extractive-responder"], "embedding_provider_id": offline["id"],
            "embedding_model_id": models["offline-embedder"], "llm_temperature": 0.1, "llm_api_key": SECRET}
    r = await gateway.post("/api/v1/agent", json=body, headers=account.auth)
    assert r.status_code == 201, r.text
    agent = r.json()
    mine = (await gateway.get(f"/api/v1/settings/agent/{agent['id']}", headers=account.auth)).json()
    assert mine["llm_temperature"] == 0.1 and mine["id"] != settings["id"]
    plain = (await gateway.post("/api/v1/agent", json={"name": f"Plain {uuid.uuid4().hex[:6]}"},
                                headers=account.auth)).json()
    inherited = (await gateway.get(f"/api/v1/settings/agent/{plain['id']}", headers=account.auth)).json()
    assert inherited["id"] == settings["id"]
    seen = [agent, mine, (await gateway.get(f"/api/v1/agent/{agent['id']}", headers=account.auth)).json(),
            (await gateway.get("/api/v1/agent", headers=account.auth)).json()]
    assert all(SECRET not in str(item) for item in seen)
    r = await gateway.post(f"/api/v1/settings/test/{mine['id']}", headers=account.auth)
    assert r.status_code == 200 and SECRET not in r.text
    # Nor in any process's log.
    for process in ("gateway", "auth", "agents", "analytics"):
        assert SECRET not in platform.log_tail(process, lines=1_000_000), process


async def test_sdk_agent_takes_provider_and_model_names(gateway, company):
    account, _ = company
    body = {"name": f"Named {uuid.uuid4().hex[:6]}", "settings": {
        "llm_provider": "offline", "llm_model": "extractive-responder",
        "embedding_provider": "offline", "embedding_model": "offline-embedder"}}
    r = await gateway.post("/api/v1/sdk/agent", json=body, headers=account.auth)
    assert r.status_code == 201, r.text
    bad = {**body, "name": f"Bad {uuid.uuid4().hex[:6]}",
           "settings": {**body["settings"], "llm_model": "offline-embedder"}}
    r = await gateway.post("/api/v1/sdk/agent", json=bad, headers=account.auth)
    assert r.status_code == 400 and r.json()["success"] is False


async def test_duplicate_names_and_bad_input_are_clear_errors(gateway, company):
    account, _ = company
    name = f"Unique {uuid.uuid4().hex[:6]}"
    assert (await gateway.post("/api/v1/agent", json={"name": name}, headers=account.auth)).status_code == 201
    r = await gateway.post("/api/v1/agent", json={"name": name}, headers=account.auth)
    assert r.status_code == 409 and r.json()["success"] is False
    r = await gateway.post("/api/v1/agent", json={"name": "T", "llm_temperature": 3}, headers=account.auth)
    assert r.status_code == 422
    r = await gateway.post("/api/v1/agent", json={"name": "X", "llm_provider_id": str(uuid.uuid4()),
                                                  "llm_model_id": str(uuid.uuid4()),
                                                  "embedding_provider_id": str(uuid.uuid4()),
                                                  "embedding_model_id": str(uuid.uuid4())}, headers=account.auth)
    assert r.status_code == 404
