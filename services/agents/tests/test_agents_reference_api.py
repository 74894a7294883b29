"""What the reference API and the official SDK send: the plain body on the SDK route, widget fields
inside `settings`, case-insensitive names, and `llm_settings_id` on clone and update."""

import uuid

import pytest

from .support import OFFLINE, catalogue, company_principals, ids
from .test_agents import GEMINI, RAW_KEY, company_settings, make_agent

BY_NAME = {"llm_provider": "offline", "llm_model": "extractive-responder",
           "embedding_provider": "offline", "embedding_model": "offline-embedder"}


@pytest.fixture
async def cat(call):
    return await catalogue(call)


@pytest.fixture
def company():
    return company_principals()


async def test_sdk_route_takes_the_plain_body_with_catalogue_ids(call, cat):
    # knowrithm-py's `create_agent` posts POST /agent's body (ids at the top) to /sdk/agent.
    _, admin, _ = company_principals()
    r = await call("POST", "/api/v1/sdk/agent", admin,
                   json={"name": "Ids bot", **ids(cat, *GEMINI), "llm_temperature": 0.2, "widget_config": {"a": 1}})
    assert r.status_code == 201, r.text
    agent = r.json()
    assert agent["configuration"]["settings_level"] == "agent"
    assert agent["configuration"]["llm_model"] == "gemini-2.5-flash"
    assert agent["configuration"]["llm_temperature"] == 0.2 and agent["widget_config"] == {"a": 1}


async def test_sdk_route_without_settings_uses_the_company_default(call, cat):
    _, admin, _ = company_principals()
    bare = await call("POST", "/api/v1/sdk/agent", admin, json={"name": "Bare"})
    assert bare.status_code == 400 and bare.json()["error"] == "settings_required"
    default = await company_settings(call, cat, admin)
    r = await call("POST", "/api/v1/sdk/agent", admin, json={"name": "Bare"})
    assert r.status_code == 201, r.text
    assert r.json()["configuration"]["settings_id"] == default["id"]


async def test_sdk_route_refuses_settings_given_both_by_name_and_by_id(call, cat):
    _, admin, _ = company_principals()
    r = await call("POST", "/api/v1/sdk/agent", admin,
                   json={"name": "Both", "settings": BY_NAME, **ids(cat, *OFFLINE)})
    assert r.status_code == 422 and "not both" in r.text


async def test_widget_fields_inside_sdk_settings_become_the_agents(call, cat):
    _, admin, _ = company_principals()
    widget = {"primary_color": "#112233"}
    r = await call("POST", "/api/v1/sdk/agent", admin,
                   json={"name": "Themed", "settings": {**BY_NAME, "widget_config": widget}})
    assert r.status_code == 201, r.text
    assert r.json()["widget_config"] == widget
    top = await call("POST", "/api/v1/sdk/agent", admin, json={
        "name": "Top wins", "widget_config": {"primary_color": "#000000"},
        "settings": {**BY_NAME, "widget_config": widget},
    })
    assert top.json()["widget_config"] == {"primary_color": "#000000"}


async def test_by_name_ignores_case_unless_two_agents_differ_only_by_case(call, cat, company):
    _, admin, user = company
    await company_settings(call, cat, admin)
    desk = await make_agent(call, admin, name="Help Desk")
    r = await call("GET", "/api/v1/agent/by-name/help desk", user)
    assert r.status_code == 200 and r.json()["id"] == desk["id"]
    other = await make_agent(call, admin, name="HELP DESK")
    assert (await call("GET", "/api/v1/agent/by-name/HELP DESK", user)).json()["id"] == other["id"]
    r = await call("GET", "/api/v1/agent/by-name/help desk", user)
    assert r.status_code == 409 and r.json()["error"] == "agent_name_ambiguous"


async def test_clone_with_llm_settings_id_runs_on_a_copy_of_those_settings(call, cat, company):
    _, admin, _ = company
    await company_settings(call, cat, admin)
    source = await make_agent(call, admin, name="Source")
    tuned = await call("POST", "/api/v1/settings", admin,
                       json={**ids(cat, *GEMINI), "llm_api_key": RAW_KEY, "llm_temperature": 1.5})
    assert tuned.status_code == 201, tuned.text
    r = await call("POST", f"/api/v1/agent/{source['id']}/clone", admin,
                   json={"name": "Tuned clone", "llm_settings_id": tuned.json()["id"]})
    assert r.status_code == 201, r.text
    config = r.json()["configuration"]
    assert config["settings_level"] == "agent" and config["settings_id"] != tuned.json()["id"]
    assert config["llm_model"] == "gemini-2.5-flash" and config["llm_temperature"] == 1.5
    own = (await call("GET", f"/api/v1/settings/agent/{r.json()['id']}", admin)).json()
    assert own["llm_api_key_hint"] == "••••" + RAW_KEY[-4:] and own["is_default"] is False


async def test_update_with_llm_settings_id_adopts_them_and_another_companys_are_not_found(call, cat, company):
    _, admin, _ = company
    await company_settings(call, cat, admin)
    agent = await make_agent(call, admin, name="Adopter")
    assert agent["configuration"]["settings_level"] == "company"
    gemini = (await call("POST", "/api/v1/settings", admin, json=ids(cat, *GEMINI))).json()
    r = await call("PUT", f"/api/v1/agent/{agent['id']}", admin,
                   json={"llm_settings_id": gemini["id"], "description": "now on Gemini"})
    assert r.status_code == 200, r.text
    assert r.json()["configuration"]["embedding_model"] == "gemini-embedding-001"
    assert r.json()["description"] == "now on Gemini"
    offline = (await call("POST", "/api/v1/settings", admin, json=ids(cat, *OFFLINE))).json()
    r = await call("PUT", f"/api/v1/sdk/agent/{agent['id']}", admin, json={"llm_settings_id": offline["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["configuration"]["embedding_model"] == "offline-embedder"
    _, stranger, _ = company_principals()
    theirs = (await call("POST", "/api/v1/settings", stranger, json=ids(cat, *OFFLINE))).json()
    for path in (f"/api/v1/agent/{agent['id']}", f"/api/v1/sdk/agent/{agent['id']}"):
        r = await call("PUT", path, admin, json={"llm_settings_id": theirs["id"]})
        assert r.status_code == 404 and r.json()["error"] == "settings_not_found"
    r = await call("POST", f"/api/v1/agent/{agent['id']}/clone", admin, json={"llm_settings_id": str(uuid.uuid4())})
    assert r.status_code == 404
