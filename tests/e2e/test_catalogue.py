"""The providers and models catalogue through the gateway: built in from the platform's first start,
read by every tenant; a super admin may still re-seed it (setting back edited built-in fields)."""

import uuid

import pytest

from .accounts import api_key, key_headers, sign_up

pytestmark = pytest.mark.e2e


async def _seed(gateway, token):
    r = await gateway.post("/api/v1/settings/providers/seed", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 201), r.text
    return r.json()


async def test_built_in_catalogue_offers_chat_and_embedding_models_from_the_first_start(gateway):
    account = await sign_up(gateway)  # no seed call: the agents service added the catalogue at start
    providers = (await gateway.get("/api/v1/providers", headers=account.auth)).json()["providers"]
    by_value = {p["value"]: p for p in providers}
    assert {"gemini", "openai-compatible", "offline"} <= by_value.keys()
    models = (await gateway.get(f"/api/v1/providers/{by_value['offline']['id']}/models",
                                headers=account.auth)).json()["models"]
    kinds = {m["name"]: (m["model_type"], m.get("embedding_dimension")) for m in models}
    assert kinds["extractive-responder"][0] == "llm"
    assert kinds["offline-embedder"] == ("embedding", 384)
    key = await api_key(gateway, account, scopes=["read"])
    assert (await gateway.get("/api/v1/providers", headers=key_headers(key))).status_code == 200


async def test_seeding_twice_changes_nothing(gateway, super_admin_token):
    await _seed(gateway, super_admin_token)
    root = {"Authorization": f"Bearer {super_admin_token}"}
    before = (await gateway.get("/api/v1/providers", headers=root)).json()
    await _seed(gateway, super_admin_token)
    after = (await gateway.get("/api/v1/providers", headers=root)).json()
    assert [p["id"] for p in after["providers"]] == [p["id"] for p in before["providers"]]


async def test_only_super_admins_change_the_catalogue(gateway):
    account = await sign_up(gateway)
    body = {"value": f"mine-{uuid.uuid4().hex[:6]}", "label": "Mine"}
    r = await gateway.post("/api/v1/providers", json=body, headers=account.auth)
    assert r.status_code == 403 and r.json()["success"] is False
    assert (await gateway.get("/api/v1/providers")).status_code == 401
