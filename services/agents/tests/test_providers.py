import uuid

import pytest

from knowrithm_common.identity import Principal, Role

SUPER = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)
COMPANY = uuid.uuid4()
ADMIN = Principal(kind="user", user_id=uuid.uuid4(), company_id=COMPANY, role=Role.ADMIN)
USER = Principal(kind="user", user_id=uuid.uuid4(), company_id=COMPANY, role=Role.USER)


def _key(*scopes: str) -> Principal:
    return Principal(kind="api_key", user_id=uuid.uuid4(), company_id=COMPANY, role=Role.ADMIN,
                     api_key_id=uuid.uuid4(), scopes=list(scopes))


def _value() -> str:
    return f"prov-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def provider(call):
    """A fresh provider offering both kinds of model, created by a super admin."""
    r = await call("POST", "/api/v1/providers", SUPER, json={
        "value": _value(), "label": "Acme AI", "provider_type": "both", "pricing_tier": "premium",
        "default_base_url": "https://api.acme.example.com/v1", "tags": ["hosted"], "sort_order": 5,
    })
    assert r.status_code == 201, r.text
    return r.json()


async def _provider_of_type(call, provider_type: str) -> dict:
    r = await call("POST", "/api/v1/providers", SUPER,
                   json={"value": _value(), "label": f"{provider_type} only", "provider_type": provider_type})
    assert r.status_code == 201, r.text
    return r.json()


def _chat_model(**over):
    return {"name": f"chat-{uuid.uuid4().hex[:8]}", "model_type": "llm", "context_length": 32000, **over}


def _embedding_model(**over):
    return {"name": f"embed-{uuid.uuid4().hex[:8]}", "model_type": "embedding", "embedding_dimension": 1024,
            **over}


# -- seed


async def test_seed_twice_creates_everything_once_and_the_second_run_changes_nothing(call):
    first = await call("POST", "/api/v1/settings/providers/seed", SUPER)
    second = await call("POST", "/api/v1/settings/providers/seed", SUPER)
    assert first.status_code == second.status_code == 200, first.text
    assert second.json()["providers_created"] == second.json()["models_created"] == 0
    assert second.json()["providers_updated"] == second.json()["models_updated"] == 0
    assert second.json()["providers_unchanged"] == 3 and second.json()["models_unchanged"] == 12
    values = [p["value"] for p in (await call("GET", "/api/v1/providers", USER)).json()["providers"]]
    assert values.count("gemini") == values.count("openai-compatible") == values.count("offline") == 1


async def test_seeded_gemini_offers_chat_models_and_embedding_models_with_their_dimensions(call):
    await call("POST", "/api/v1/settings/providers/seed", SUPER)
    listed = (await call("GET", "/api/v1/providers?include_models=true", USER)).json()["providers"]
    gemini = next(p for p in listed if p["value"] == "gemini")
    assert gemini["provider_type"] == "both" and gemini["requires_api_key"] is True
    assert gemini["api_key_env_var"] == "GEMINI_API_KEY"
    kinds = {m["name"]: (m["model_type"], m["context_length"], m["dimension"]) for m in gemini["models"]}
    assert kinds["gemini-2.5-flash"] == ("llm", 1_048_576, None)
    assert kinds["gemini-2.5-pro"][0] == kinds["gemini-2.0-flash"][0] == "llm"
    assert kinds["gemini-embedding-001"][::2] == ("embedding", 3072)
    assert kinds["text-embedding-004"][::2] == ("embedding", 768)
    offline = next(p for p in listed if p["value"] == "offline")
    assert offline["requires_api_key"] is False and offline["requires_base_url"] is False
    assert {(m["name"], m["model_type"]) for m in offline["models"]} == {
        ("extractive-responder", "llm"), ("offline-embedder", "embedding")}
    compatible = next(p for p in listed if p["value"] == "openai-compatible")
    assert compatible["requires_base_url"] is True and compatible["requires_api_key"] is False


async def test_seed_sets_back_an_edited_seeded_field_and_reports_it_updated(call):
    await call("POST", "/api/v1/settings/providers/seed", SUPER)
    gemini = next(p for p in (await call("GET", "/api/v1/providers", USER)).json()["providers"]
                  if p["value"] == "gemini")
    await call("PUT", f"/api/v1/providers/{gemini['id']}", SUPER, json={"label": "Renamed"})
    r = await call("POST", "/api/v1/settings/providers/seed", SUPER)
    assert r.json()["providers_updated"] == 1 and r.json()["providers_created"] == 0
    assert (await call("GET", f"/api/v1/providers/{gemini['id']}", USER)).json()["label"] == "Google Gemini"


async def test_settings_catalogue_lists_chat_and_embedding_providers_with_only_their_kind_of_model(call):
    await call("POST", "/api/v1/settings/providers/seed", SUPER)
    r = await call("GET", "/api/v1/settings/providers", _key("read"))
    assert r.status_code == 200, r.text
    body = r.json()
    llm = next(p for p in body["llm_providers"] if p["value"] == "gemini")
    embedding = next(p for p in body["embedding_providers"] if p["value"] == "gemini")
    assert {m["model_type"] for m in llm["models"]} == {"llm"}
    assert {m["model_type"] for m in embedding["models"]} == {"embedding"}
    assert body["metadata"]["total_llm_providers"] == len(body["llm_providers"])
    assert "premium" in body["metadata"]["pricing_tiers"]


# -- providers


async def test_created_provider_is_listed_and_read_back_with_its_fields(call, provider):
    assert provider["label"] == "Acme AI" and provider["requires_api_key"] is True
    assert provider["tags"] == ["hosted"] and provider["is_active"] is True
    listed = (await call("GET", "/api/v1/providers", USER)).json()
    assert provider["id"] in [p["id"] for p in listed["providers"]]
    assert listed["total"] == len(listed["providers"])
    got = (await call("GET", f"/api/v1/providers/{provider['id']}", USER)).json()
    assert got["value"] == provider["value"] and got["models"] == []
    plain = (await call("GET", f"/api/v1/providers/{provider['id']}?include_models=false", USER)).json()
    assert "models" not in plain


async def test_type_filter_lists_embedding_providers_including_both_but_not_llm_only(call):
    llm_only = await _provider_of_type(call, "llm")
    embedding_only = await _provider_of_type(call, "embedding")
    both = await _provider_of_type(call, "both")
    ids = {p["id"] for p in (await call("GET", "/api/v1/providers?type=embedding", USER)).json()["providers"]}
    assert embedding_only["id"] in ids and both["id"] in ids and llm_only["id"] not in ids


async def test_update_provider_changes_given_fields_only(call, provider):
    r = await call("PUT", f"/api/v1/providers/{provider['id']}", SUPER,
                   json={"label": "Acme Cloud", "is_featured": True, "tags": ["a", "b"]})
    assert r.status_code == 200, r.text
    assert (r.json()["label"], r.json()["is_featured"], r.json()["tags"]) == ("Acme Cloud", True, ["a", "b"])
    assert r.json()["pricing_tier"] == "premium" and r.json()["sort_order"] == 5


async def test_deactivated_provider_leaves_the_default_list_but_not_the_inactive_one(call, provider):
    await call("PUT", f"/api/v1/providers/{provider['id']}", SUPER, json={"is_active": False})
    active = (await call("GET", "/api/v1/providers", USER)).json()["providers"]
    everything = (await call("GET", "/api/v1/providers?include_inactive=true", USER)).json()["providers"]
    assert provider["id"] not in [p["id"] for p in active]
    assert provider["id"] in [p["id"] for p in everything]


async def test_duplicate_provider_value_returns_409(call, provider):
    r = await call("POST", "/api/v1/providers", SUPER, json={"value": provider["value"], "label": "Again"})
    assert r.status_code == 409
    assert r.json()["error"] == "provider_exists" and r.json()["success"] is False


async def test_deleted_provider_and_its_models_answer_404_and_its_value_can_be_used_again(call, provider):
    model = (await call("POST", f"/api/v1/providers/{provider['id']}/models", SUPER, json=_chat_model())).json()
    r = await call("DELETE", f"/api/v1/providers/{provider['id']}", SUPER)
    assert r.status_code == 200 and "1 models" in r.json()["message"]
    gone = await call("GET", f"/api/v1/providers/{provider['id']}", USER)
    assert (gone.status_code, gone.json()["error"]) == (404, "provider_not_found")
    assert (await call("GET", f"/api/v1/providers/{provider['id']}/models/{model['id']}", USER)).status_code == 404
    assert provider["id"] not in [p["id"] for p in (await call("GET", "/api/v1/providers", USER)).json()["providers"]]
    again = await call("POST", "/api/v1/providers", SUPER, json={"value": provider["value"], "label": "New"})
    assert again.status_code == 201 and again.json()["id"] != provider["id"]


async def test_narrowing_provider_type_while_it_has_embedding_models_returns_409(call, provider):
    await call("POST", f"/api/v1/providers/{provider['id']}/models", SUPER, json=_embedding_model())
    r = await call("PUT", f"/api/v1/providers/{provider['id']}", SUPER, json={"provider_type": "llm"})
    assert (r.status_code, r.json()["error"]) == (409, "provider_type_in_use")
    assert (await call("GET", f"/api/v1/providers/{provider['id']}", USER)).json()["provider_type"] == "both"


# -- models


async def test_created_models_are_listed_filtered_by_type_and_read_back(call, provider):
    base = f"/api/v1/providers/{provider['id']}/models"
    chat = await call("POST", base, SUPER, json=_chat_model(cost_per_1k_tokens_input=0.00015, max_tokens=4096))
    embed = await call("POST", base, SUPER, json=_embedding_model())
    assert chat.status_code == embed.status_code == 201, chat.text
    assert chat.json()["pricing"] == {"input": 0.00015, "output": None}
    assert (embed.json()["dimension"], embed.json()["embedding_dimension"]) == (1024, 1024)
    listed = (await call("GET", base, USER)).json()
    assert listed["total"] == 2 and listed["provider"]["id"] == provider["id"]
    only_embeddings = (await call("GET", f"{base}?type=embedding", USER)).json()["models"]
    assert [m["id"] for m in only_embeddings] == [embed.json()["id"]]
    got = (await call("GET", f"{base}/{chat.json()['id']}", USER)).json()
    assert (got["name"], got["context"], got["max_tokens"]) == (chat.json()["name"], 32000, 4096)


async def test_update_model_changes_given_fields_and_delete_hides_it(call, provider):
    base = f"/api/v1/providers/{provider['id']}/models"
    model = (await call("POST", base, SUPER, json=_embedding_model())).json()
    r = await call("PUT", f"{base}/{model['id']}", SUPER,
                   json={"embedding_dimension": 768, "is_deprecated": True, "display_name": "Old embedder"})
    assert r.status_code == 200, r.text
    assert (r.json()["dimension"], r.json()["is_deprecated"], r.json()["display_name"]) == (768, True, "Old embedder")
    assert (await call("DELETE", f"{base}/{model['id']}", SUPER)).status_code == 200
    gone = await call("GET", f"{base}/{model['id']}", USER)
    assert (gone.status_code, gone.json()["error"]) == (404, "model_not_found")
    assert (await call("GET", base, USER)).json()["total"] == 0


async def test_duplicate_model_name_in_one_provider_returns_409_but_another_provider_may_reuse_it(call, provider):
    other = await _provider_of_type(call, "llm")
    body = _chat_model()
    assert (await call("POST", f"/api/v1/providers/{provider['id']}/models", SUPER, json=body)).status_code == 201
    dup = await call("POST", f"/api/v1/providers/{provider['id']}/models", SUPER, json=body)
    assert (dup.status_code, dup.json()["error"]) == (409, "model_exists")
    assert (await call("POST", f"/api/v1/providers/{other['id']}/models", SUPER, json=body)).status_code == 201


async def test_model_asked_for_under_another_provider_returns_404(call, provider):
    other = await _provider_of_type(call, "both")
    model = (await call("POST", f"/api/v1/providers/{provider['id']}/models", SUPER, json=_chat_model())).json()
    for method, kw in (("GET", {}), ("PUT", {"json": {"sort_order": 1}}), ("DELETE", {})):
        r = await call(method, f"/api/v1/providers/{other['id']}/models/{model['id']}", SUPER, **kw)
        assert (r.status_code, r.json()["error"]) == (404, "model_not_found"), method
    assert (await call("GET", f"/api/v1/providers/{provider['id']}/models/{model['id']}", USER)).status_code == 200


async def test_unknown_provider_and_model_ids_return_404(call, provider):
    unknown = uuid.uuid4()
    for method, path in (("GET", f"/api/v1/providers/{unknown}"), ("PUT", f"/api/v1/providers/{unknown}"),
                         ("DELETE", f"/api/v1/providers/{unknown}"),
                         ("GET", f"/api/v1/providers/{unknown}/models"),
                         ("POST", f"/api/v1/providers/{unknown}/models")):
        body = _chat_model() if path.endswith("models") else {"label": "x"}
        r = await call(method, path, SUPER, json=body if method in ("PUT", "POST") else None)
        assert (r.status_code, r.json()["error"]) == (404, "provider_not_found"), (method, path)
    r = await call("GET", f"/api/v1/providers/{provider['id']}/models/{unknown}", USER)
    assert (r.status_code, r.json()["error"]) == (404, "model_not_found")


async def test_embedding_model_without_dimension_returns_422(call, provider):
    r = await call("POST", f"/api/v1/providers/{provider['id']}/models", SUPER,
                   json={"name": "no-dim", "model_type": "embedding"})
    assert (r.status_code, r.json()["error"]) == (422, "invalid_embedding_dimension")
    assert "embedding_dimension" in r.json()["message"]


async def test_llm_model_with_a_dimension_or_zero_dimension_returns_422(call, provider):
    base = f"/api/v1/providers/{provider['id']}/models"
    with_dim = await call("POST", base, SUPER, json=_chat_model(embedding_dimension=768))
    assert (with_dim.status_code, with_dim.json()["error"]) == (422, "invalid_embedding_dimension")
    zero = await call("POST", base, SUPER, json=_embedding_model(embedding_dimension=0))
    assert (zero.status_code, zero.json()["error"]) == (422, "validation_error")


async def test_embedding_model_under_llm_only_provider_is_rejected(call):
    llm_only = await _provider_of_type(call, "llm")
    r = await call("POST", f"/api/v1/providers/{llm_only['id']}/models", SUPER, json=_embedding_model())
    assert (r.status_code, r.json()["error"]) == (422, "model_type_not_supported")
    assert "llm-only" in r.json()["message"]


@pytest.mark.parametrize("body", [
    {"value": 12, "label": "Numbers"},
    {"value": "ok-value", "label": "x", "requires_api_key": "yes"},
    {"value": "ok-value", "label": "x", "provider_type": "vision"},
    {"value": "Not A Slug!", "label": "x"},
    {"label": "missing value"},
])
async def test_provider_with_wrong_types_returns_422_in_the_shared_shape(call, body):
    r = await call("POST", "/api/v1/providers", SUPER, json=body)
    assert r.status_code == 422
    assert r.json()["success"] is False and r.json()["error"] == "validation_error" and r.json()["detail"]


@pytest.mark.parametrize("body", [
    {"name": "m", "context_length": "8192"},
    {"name": "m", "context_length": -1},
    {"name": "m", "model_type": "vision"},
    {"name": "m", "supports_vision": 1},
    {"name": "m", "cost_per_1k_tokens_input": "0.1"},
])
async def test_model_with_wrong_types_returns_422_in_the_shared_shape(call, provider, body):
    r = await call("POST", f"/api/v1/providers/{provider['id']}/models", SUPER, json=body)
    assert (r.status_code, r.json()["error"]) == (422, "validation_error"), body


# -- bulk import


async def test_bulk_import_creates_then_updates_providers_and_models(call):
    value = _value()
    body = {"providers": [{"value": value, "label": "Imported", "provider_type": "both", "models": [
        {"name": "chat-1", "model_type": "llm", "context": 4096},
        {"name": "embed-1", "model_type": "embedding", "dimension": 512},
    ]}]}
    first = await call("POST", "/api/v1/providers/bulk-import", SUPER, json=body)
    assert first.status_code == 200, first.text
    assert (first.json()["providers_created"], first.json()["models_created"]) == (1, 2)
    body["providers"][0]["models"][0]["context"] = 8192
    second = (await call("POST", "/api/v1/providers/bulk-import", SUPER, json=body)).json()
    assert (second["providers_created"], second["models_created"], second["models_updated"]) == (0, 0, 1)
    provider = next(p for p in (await call("GET", "/api/v1/providers?include_models=true", USER)).json()[
        "providers"] if p["value"] == value)
    assert {m["name"]: m["context_length"] for m in provider["models"]} == {"chat-1": 8192, "embed-1": 0}
    assert provider["label"] == "Imported"


async def test_bulk_import_with_one_invalid_model_writes_nothing(call):
    value = _value()
    body = {"providers": [{"value": value, "label": "Half", "provider_type": "llm", "models": [
        {"name": "ok", "model_type": "llm"}, {"name": "bad", "model_type": "embedding", "dimension": 8}]}]}
    r = await call("POST", "/api/v1/providers/bulk-import", SUPER, json=body)
    assert (r.status_code, r.json()["error"]) == (422, "model_type_not_supported")
    assert r.json()["detail"][0]["loc"] == ["body", "providers", 0, "models", 1, "model_type"]
    values = [p["value"] for p in (await call("GET", "/api/v1/providers?include_inactive=true", USER)).json()[
        "providers"]]
    assert value not in values


# -- who may call


WRITES = [
    ("POST", "/api/v1/providers", {"value": "nope", "label": "Nope"}),
    ("POST", "/api/v1/providers/bulk-import", {"providers": [{"value": "nope", "label": "Nope"}]}),
    ("POST", "/api/v1/settings/providers/seed", None),
]


@pytest.mark.parametrize("who", [ADMIN, USER, _key("read", "write", "admin")], ids=["admin", "user", "api_key"])
@pytest.mark.parametrize(("method", "path", "body"), WRITES)
async def test_writes_by_anyone_but_a_super_admin_return_403(call, who, method, path, body):
    r = await call(method, path, who, json=body)
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")


async def test_provider_and_model_changes_by_a_company_admin_return_403_and_change_nothing(call, provider):
    model = (await call("POST", f"/api/v1/providers/{provider['id']}/models", SUPER, json=_chat_model())).json()
    model_path = f"/api/v1/providers/{provider['id']}/models/{model['id']}"
    for method, path, body in (("PUT", f"/api/v1/providers/{provider['id']}", {"label": "Hacked"}),
                               ("DELETE", f"/api/v1/providers/{provider['id']}", None),
                               ("POST", f"/api/v1/providers/{provider['id']}/models", _chat_model()),
                               ("PUT", model_path, {"sort_order": 9}), ("DELETE", model_path, None)):
        assert (await call(method, path, ADMIN, json=body)).status_code == 403, (method, path)
    got = (await call("GET", f"/api/v1/providers/{provider['id']}", USER)).json()
    assert got["label"] == "Acme AI" and [m["sort_order"] for m in got["models"]] == [0]


@pytest.mark.parametrize("path", ["/api/v1/providers", "/api/v1/settings/providers"])
async def test_anonymous_reads_return_401(call, path):
    r = await call("GET", path)
    assert (r.status_code, r.json()["error"]) == (401, "unauthorized")


async def test_api_key_without_read_scope_returns_403_and_with_it_reads(call, provider):
    path = f"/api/v1/providers/{provider['id']}"
    denied = await call("GET", path, _key("write"))
    assert (denied.status_code, denied.json()["error"]) == (403, "forbidden")
    assert (await call("GET", path, _key("read"))).status_code == 200
