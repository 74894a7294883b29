"""LLM and embedding settings: catalogue checks, encrypted keys never returned, tenancy, test call."""

import socket
import uuid

import pytest

from .support import OFFLINE, SUPER, FakeProvider, api_key, catalogue, company_principals, ids

RAW_KEY = "sk-live-" + uuid.uuid4().hex


@pytest.fixture
async def cat(call):
    return await catalogue(call)


@pytest.fixture
def company():
    return company_principals()


def _offline(cat, **over):
    return {**ids(cat, *OFFLINE), **over}


async def test_admin_creates_company_settings_and_sees_names_and_a_masked_key_hint(call, cat, company):
    _, admin, user = company
    body = {
        **ids(cat, ("gemini", "gemini-2.5-flash"), ("gemini", "gemini-embedding-001")),
        "llm_api_key": RAW_KEY,
        "embedding_api_key": RAW_KEY,
        "llm_temperature": 0.2,
        "is_default": True,
    }
    r = await call("POST", "/api/v1/settings", admin, json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["llm_provider"] == "gemini" and out["llm_model_name"] == "gemini-2.5-flash"
    assert out["embedding_dimension"] == 3072 and out["llm_temperature"] == 0.2
    assert out["llm_api_key_hint"] == "••••" + RAW_KEY[-4:] and out["agent_id"] is None
    got = await call("GET", f"/api/v1/settings/{out['id']}", user)
    assert got.status_code == 200 and got.json()["embedding_api_key_hint"] == out["embedding_api_key_hint"]
    listed = await call("GET", f"/api/v1/settings/company/{company[0]}", api_key(company[0], "read"))
    assert [s["id"] for s in listed.json()["settings"]] == [out["id"]]
    for response in (r, got, listed):
        assert RAW_KEY not in response.text and RAW_KEY[8:] not in response.text


async def test_sdk_settings_take_provider_and_model_names(call, cat, company):
    _, admin, _ = company
    r = await call(
        "POST",
        "/api/v1/sdk/settings",
        admin,
        json={
            "llm_provider": "offline",
            "llm_model": "extractive-responder",
            "embedding_provider": "offline",
            "embedding_model": "offline-embedder",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["llm_model_id"] == cat["offline"]["models"]["extractive-responder"]
    unknown = await call(
        "POST",
        "/api/v1/sdk/settings",
        admin,
        json={
            "llm_provider": "nope",
            "llm_model": "x",
            "embedding_provider": "offline",
            "embedding_model": "offline-embedder",
        },
    )
    assert unknown.status_code == 404 and "llm_provider" in unknown.json()["message"]
    bad_model = await call(
        "POST",
        "/api/v1/sdk/settings",
        admin,
        json={
            "llm_provider": "offline",
            "llm_model": "gpt-4o",
            "embedding_provider": "offline",
            "embedding_model": "offline-embedder",
        },
    )
    assert bad_model.status_code == 404 and "llm_model" in bad_model.json()["message"]


@pytest.mark.parametrize(
    ("override", "status", "field"),
    [
        ("embedding_as_chat", 400, "llm_model_id"),
        ("foreign_model", 400, "llm_model_id"),
        ("unknown_provider", 404, "llm_provider_id"),
        ("hot", 422, "llm_temperature"),
    ],
)
async def test_bad_catalogue_choices_and_ranges_are_refused_naming_the_field(
    call, cat, company, override, status, field
):
    _, admin, _ = company
    body = _offline(cat)
    if override == "embedding_as_chat":
        body["llm_model_id"] = cat["offline"]["models"]["offline-embedder"]
    elif override == "foreign_model":
        body["llm_model_id"] = cat["gemini"]["models"]["gemini-2.5-flash"]
    elif override == "unknown_provider":
        body["llm_provider_id"] = str(uuid.uuid4())
    else:
        body["llm_temperature"] = 2.5
    r = await call("POST", "/api/v1/settings", admin, json=body)
    assert r.status_code == status, r.text
    assert field in r.text


async def test_members_read_but_only_admins_write_settings(call, cat, company):
    _, _, user = company
    r = await call("POST", "/api/v1/settings", user, json=_offline(cat))
    assert r.status_code == 403
    r = await call("POST", "/api/v1/settings", api_key(company[0], "read"), json=_offline(cat))
    assert r.status_code == 403
    r = await call("POST", "/api/v1/settings", api_key(company[0], "write"), json=_offline(cat))
    assert r.status_code == 201, r.text


async def test_another_companys_settings_are_not_found_everywhere(call, cat, company):
    _, admin, _ = company
    created = (await call("POST", "/api/v1/settings", admin, json=_offline(cat))).json()
    _, other_admin, _ = company_principals()
    sid = created["id"]
    for method, path, kw in [
        ("GET", f"/api/v1/settings/{sid}", {}),
        ("PUT", f"/api/v1/settings/{sid}", {"json": {"llm_temperature": 1}}),
        ("DELETE", f"/api/v1/settings/{sid}", {}),
        ("POST", f"/api/v1/settings/test/{sid}", {}),
        ("GET", f"/api/v1/settings/company/{company[0]}", {}),
    ]:
        r = await call(method, path, other_admin, **kw)
        assert r.status_code == 404, (method, path, r.text)
    assert (await call("GET", f"/api/v1/settings/{sid}", SUPER)).status_code == 200
    listed = await call("GET", f"/api/v1/settings/company/{company[0]}", SUPER)
    assert [s["id"] for s in listed.json()["settings"]] == [sid]


async def test_update_replaces_the_key_and_changes_only_the_fields_given(call, cat, company):
    _, admin, _ = company
    created = (
        await call("POST", "/api/v1/settings", admin, json=_offline(cat, llm_api_key="old-key-1234"))
    ).json()
    r = await call(
        "PUT", f"/api/v1/settings/{created['id']}", admin, json={"llm_api_key": RAW_KEY, "llm_max_tokens": 50}
    )
    assert r.status_code == 200, r.text
    assert r.json()["llm_api_key_hint"] == "••••" + RAW_KEY[-4:] and r.json()["llm_max_tokens"] == 50
    assert r.json()["llm_temperature"] == created["llm_temperature"] and RAW_KEY not in r.text
    cleared = await call("PUT", f"/api/v1/settings/{created['id']}", admin, json={"llm_api_key": None})
    assert cleared.json()["llm_api_key_hint"] is None


async def test_offline_settings_test_succeeds_without_network(call, cat, company):
    _, admin, _ = company
    sid = (await call("POST", "/api/v1/settings", admin, json=_offline(cat))).json()["id"]
    r = await call("POST", f"/api/v1/settings/test/{sid}", admin)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True and r.json()["llm"]["latency_ms"] >= 0


async def test_settings_test_reaches_gemini_and_openai_compatible_servers_and_reports_a_bad_key(
    call, cat, company
):
    """Runs against a local HTTP server speaking the Gemini and OpenAI wire formats, never the internet."""
    _, admin, _ = company
    with FakeProvider(good_key=RAW_KEY) as fake:
        body = {
            **ids(cat, ("gemini", "gemini-2.5-flash"), ("openai-compatible", "text-embedding-3-small")),
            "llm_api_key": RAW_KEY,
            "llm_api_base_url": fake.url,
            "embedding_api_key": RAW_KEY,
            "embedding_api_base_url": fake.url + "/v1",
        }
        sid = (await call("POST", "/api/v1/settings", admin, json=body)).json()["id"]
        ok = await call("POST", f"/api/v1/settings/test/{sid}", admin)
        assert ok.status_code == 200, ok.text
        assert ok.json()["success"] is True, ok.text
        assert any(":generateContent" in p for _, p in fake.requests)
        assert ("POST", "/v1/embeddings") in fake.requests
        await call(
            "PUT",
            f"/api/v1/settings/{sid}",
            admin,
            json={"llm_api_key": "wrong-key-9999", "embedding_api_key": "wrong-key-9999"},
        )
        bad = (await call("POST", f"/api/v1/settings/test/{sid}", admin)).json()
    assert bad["success"] is False
    assert bad["llm"]["error"] == bad["embedding"]["error"] == "provider_auth_failed"
    assert bad["llm"]["status"] == 401 and "API key not valid" in bad["llm"]["message"]
    assert RAW_KEY not in ok.text and "wrong-key-9999" not in str(bad)


async def test_settings_test_reports_an_unreachable_host_quickly(call, cat, company):
    _, admin, _ = company
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    body = {
        **ids(cat, ("openai-compatible", "gpt-4o-mini"), ("gemini", "gemini-embedding-001")),
        "llm_api_base_url": dead,
        "embedding_api_base_url": dead,
        "embedding_api_key": RAW_KEY,
    }
    sid = (await call("POST", "/api/v1/settings", admin, json=body)).json()["id"]
    r = (await call("POST", f"/api/v1/settings/test/{sid}", admin)).json()
    assert r["success"] is False
    assert r["llm"]["error"] == r["embedding"]["error"] == "provider_unreachable", r
    assert "unreachable" in r["llm"]["message"]


async def test_settings_test_gives_up_on_a_silent_host_within_the_timeout(call, cat, company):
    """A local socket that accepts connections and never answers (the timeout is 2s in tests)."""
    _, admin, _ = company
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        body = {**ids(cat, ("openai-compatible", "gpt-4o-mini"), OFFLINE[1]), "llm_api_base_url": url}
        sid = (await call("POST", "/api/v1/settings", admin, json=body)).json()["id"]
        r = (await call("POST", f"/api/v1/settings/test/{sid}", admin)).json()
    assert r["llm"]["error"] == "provider_unreachable" and "within 2s" in r["llm"]["message"]
    assert r["embedding"]["ok"] is True


@pytest.mark.parametrize("field", ["llm_provider_id", "llm_model_id", "embedding_provider_id", "embedding_model_id"])
async def test_unknown_catalogue_id_in_an_update_returns_404_naming_the_field(call, cat, company, field):
    _, admin, _ = company
    settings = (await call("POST", "/api/v1/settings", admin, json=_offline(cat))).json()
    agent = (await call("POST", "/api/v1/agent", admin, json={"name": f"Own {field}", **_offline(cat)})).json()
    unknown = str(uuid.uuid4())
    for path in (f"/api/v1/settings/{settings['id']}", f"/api/v1/agent/{agent['id']}"):
        r = await call("PUT", path, admin, json={field: unknown})
        assert r.status_code == 404, (path, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", field]
    assert (await call("GET", f"/api/v1/settings/{settings['id']}", admin)).json() == settings
