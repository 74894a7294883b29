"""SDK agent routes (provider and model names) and rebuilding agents from their events alone."""

import uuid

import pytest

from .support import OFFLINE, catalogue, company_principals, ids
from .test_agents import outbox

RAW_KEY = "sk-sdk-" + uuid.uuid4().hex


@pytest.fixture
async def cat(call):
    return await catalogue(call)


def sdk_settings(**over):
    return {
        "llm_provider": "gemini",
        "llm_model": "gemini-2.5-flash",
        "embedding_provider": "offline",
        "embedding_model": "offline-embedder",
        "llm_api_key": RAW_KEY,
        **over,
    }


async def test_sdk_agent_create_update_delete_by_provider_and_model_names(call, cat):
    _, admin, user = company_principals()
    r = await call("POST", "/api/v1/sdk/agent", admin, json={"name": "SDK bot", "settings": sdk_settings()})
    assert r.status_code == 201, r.text
    agent = r.json()
    config = agent["configuration"]
    assert config["llm_model_id"] == cat["gemini"]["models"]["gemini-2.5-flash"]
    assert config["embedding_model"] == "offline-embedder" and config["settings_level"] == "agent"
    assert RAW_KEY not in r.text
    changed = await call(
        "PUT",
        f"/api/v1/sdk/agent/{agent['id']}",
        admin,
        json={"status": "inactive", "settings": {"llm_model": "gemini-2.5-pro", "llm_temperature": 0.2}},
    )
    assert changed.status_code == 200, changed.text
    config = changed.json()["configuration"]
    assert config["llm_provider"] == "gemini" and config["llm_model"] == "gemini-2.5-pro"
    assert config["llm_temperature"] == 0.2 and changed.json()["status"] == "inactive"
    assert (await call("DELETE", f"/api/v1/sdk/agent/{agent['id']}", admin)).status_code == 200
    assert (await call("GET", f"/api/v1/agent/{agent['id']}", user)).status_code == 404


@pytest.mark.parametrize(
    ("settings", "status", "field"),
    [
        ({"llm_provider": "nope"}, 404, "llm_provider"),
        ({"llm_model": "gpt-9"}, 404, "llm_model"),
        ({"llm_model": "gemini-embedding-001"}, 400, "llm_model_id"),
        ({"llm_temperature": 3}, 422, "llm_temperature"),
    ],
)
async def test_sdk_agent_refuses_unknown_names_and_bad_values(call, cat, settings, status, field):
    _, admin, _ = company_principals()
    r = await call("POST", "/api/v1/sdk/agent", admin, json={"name": "Bad", "settings": sdk_settings(**settings)})
    assert r.status_code == status, r.text
    assert field in r.text


async def test_sdk_update_with_an_unknown_model_name_is_not_found(call, cat):
    _, admin, _ = company_principals()
    agent = (
        await call("POST", "/api/v1/sdk/agent", admin, json={"name": "SDK", "settings": sdk_settings()})
    ).json()
    r = await call("PUT", f"/api/v1/sdk/agent/{agent['id']}", admin, json={"settings": {"llm_model": "gpt-9"}})
    assert r.status_code == 404 and "llm_model" in r.json()["message"]


def _replay(events: list[dict]) -> dict[str, dict | None]:
    """A consumer's projection: agent id -> its last known state (None once deleted)."""
    state: dict[str, dict | None] = {}
    for event in events:
        data = {k: v for k, v in event["data"].items() if k not in ("reembed_required", "cloned_from")}
        state[data["agent_id"]] = None if event["type"] == "agents.agent.deleted.v1" else data
    return state


def _as_reported(agent: dict) -> dict:
    """GET /api/v1/agent/{id} in the event payload's terms."""
    skip = {"id", "created_at", "updated_at"}
    return {"agent_id": agent["id"], **{k: v for k, v in agent.items() if k not in skip}}


async def test_replaying_agent_events_rebuilds_each_agents_configuration(client, call, cat):
    company_id, admin, user = company_principals()
    await call("POST", "/api/v1/settings", admin, json={**ids(cat, *OFFLINE), "is_default": True})
    plain = (await call("POST", "/api/v1/agent", admin, json={"name": "Plain"})).json()
    own = (
        await call("POST", "/api/v1/sdk/agent", admin, json={"name": "Own", "settings": sdk_settings()})
    ).json()
    await call("PUT", f"/api/v1/agent/{plain['id']}", admin, json={"languages": ["de"], "status": "training"})
    embedding_change = await call(
        "PUT",
        f"/api/v1/agent/{own['id']}",
        admin,
        json=ids(cat, ("gemini", "gemini-2.5-flash"), ("gemini", "gemini-embedding-001")),
    )
    assert embedding_change.status_code == 200, embedding_change.text
    clone = (await call("POST", f"/api/v1/agent/{own['id']}/clone", admin)).json()
    gone = (await call("POST", "/api/v1/agent", admin, json={"name": "Gone"})).json()
    await call("DELETE", f"/api/v1/agent/{gone['id']}", admin)
    await call("DELETE", f"/api/v1/agent/{plain['id']}", admin)
    await call("PATCH", f"/api/v1/agent/{plain['id']}/restore", admin)

    events = [e for e in await outbox(client) if e["company_id"] == str(company_id)]
    assert any(e["data"].get("reembed_required") for e in events)
    assert any(e["data"].get("cloned_from") == own["id"] for e in events)
    state = _replay(events)
    assert state[gone["id"]] is None
    for agent_id in (plain["id"], own["id"], clone["id"]):
        reported = await call("GET", f"/api/v1/agent/{agent_id}", user)
        assert state[agent_id] == _as_reported(reported.json())
    listed = (await call("GET", "/api/v1/agent", user)).json()["agents"]
    assert {a["id"] for a in listed} == {k for k, v in state.items() if v is not None}
