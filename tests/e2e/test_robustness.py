"""No request breaks another: each class of input that once ended in a 500, through the gateway."""

from __future__ import annotations

import uuid

import httpx
import psycopg

from .accounts import Account, api_key, key_headers, offline_settings, sign_up


async def _agent(gateway: httpx.AsyncClient, account: Account, name: str) -> dict:
    r = await gateway.post("/api/v1/agent", json={"name": name}, headers=account.auth)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_500_inside_a_service_leaves_another_tenants_next_write_working(
    platform, gateway
) -> None:
    broken, other = await sign_up(gateway), await sign_up(gateway)
    for account in (broken, other):
        await offline_settings(gateway, account)
    agent = await _agent(gateway, broken, "Corrupted")
    # Data no code path writes: reading this agent fails inside the agents service.
    await _set_traits(platform, agent["id"], '"corrupt"')
    try:
        await _fail_then_write(gateway, broken, other, agent["id"])
    finally:
        await _set_traits(platform, agent["id"], "{}")


async def _set_traits(platform, agent_id: str, traits: str) -> None:
    async with await psycopg.AsyncConnection.connect(platform.env["DATABASE_URL"]) as db:
        await db.execute(
            "UPDATE agents.agents SET personality_traits = %s::jsonb WHERE id = %s", (traits, agent_id)
        )
        await db.commit()


async def _fail_then_write(
    gateway: httpx.AsyncClient, broken: Account, other: Account, agent_id: str
) -> None:
    for round_ in range(5):
        failed = await gateway.get(f"/api/v1/agent/{agent_id}", headers=broken.auth)
        assert failed.status_code == 500
        assert failed.json() == {
            "success": False, "error": "internal_error", "message": "Internal server error",
        }
        # At once, on the gateway's pooled connection to the same service: no 502.
        write = await gateway.post(
            "/api/v1/agent", json={"name": f"Next {round_}"}, headers=other.auth
        )
        assert write.status_code == 201, write.text


async def test_nul_character_in_json_or_query_returns_422_naming_the_field_in_every_service(
    gateway
) -> None:
    account = await sign_up(gateway)
    await offline_settings(gateway, account)
    agent = await _agent(gateway, account, "Nul")
    cases = [  # (method, path, json body, query, the field named)
        ("POST", "/api/v1/company", {"name": "Ac\u0000me", "email": "nul@example.com"}, None,
         ["body", "name"]),
        ("POST", "/api/v1/agent", {"name": "A\u0000"}, None, ["body", "name"]),
        ("PUT", f"/api/v1/agent/{agent['id']}", {"description": "d", "widget_config": {"k\u0000": 1}},
         None, ["body", "widget_config", "k\u0000"]),
        ("POST", "/api/v1/conversation", {"agent_id": agent["id"], "title": "t\u0000"}, None,
         ["body", "title"]),
        ("POST", "/api/v1/lead", {"agent_id": agent["id"], "first_name": "Ada", "email": "a@example.com",
                                  "notes": "n\u0000"}, None, ["body", "notes"]),
        ("POST", "/api/v1/search/document", {"query": "what\u0000"}, None, ["body", "query"]),
        ("POST", "/api/v1/webhook", {"url": "https://example.com/h", "description": "\u0000"}, None,
         ["body", "description"]),
        ("GET", "/api/v1/audit-log", None, {"action": "user.login\u0000"}, ["query", "action"]),
        ("GET", "/api/v1/analytic/dashboard", None, {"start_date": "\u0000"}, ["query", "start_date"]),
        ("GET", "/api/v1/document", None, {"agent_id": "\u0000"}, ["query", "agent_id"]),
        ("GET", "/api/v1/auth/user/me", None, {"x": "\u0000"}, ["query", "x"]),
    ]
    for method, path, body, query, loc in cases:
        r = await gateway.request(method, path, json=body, params=query, headers=account.auth)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["error"] == "validation_error", path
        assert loc in [d["loc"] for d in r.json()["detail"]], (path, r.json())


async def test_body_that_is_not_utf8_returns_400_on_hand_read_and_model_routes(
    gateway
) -> None:
    account = await sign_up(gateway)
    await offline_settings(gateway, account)
    latin1 = '{"name": "Caf\u00e9 M\u00fcller", "email": "cafe@example.com"}'.encode("latin-1")
    json_type = {"Content-Type": "application/json"}
    company = f"/api/v1/company/{account.company['id']}"
    for method, path in [
        ("POST", "/api/v1/company"), ("PUT", company), ("PATCH", company), ("POST", "/api/v1/agent"),
        ("POST", "/api/v1/webhook"),
    ]:
        r = await gateway.request(method, path, content=latin1, headers={**account.auth, **json_type})
        assert r.status_code == 400, (method, path, r.text)
        assert r.json()["error"] == "invalid_encoding", (method, path)


async def test_pages_are_bounded_and_a_page_past_the_end_is_empty_with_totals(
    gateway, super_admin_token
) -> None:
    account = await sign_up(gateway)
    await offline_settings(gateway, account)
    for name in ("One", "Two", "Three"):
        await _agent(gateway, account, name)
    root = {"Authorization": f"Bearer {super_admin_token}"}
    lists = [
        ("/api/v1/agent", account.auth), ("/api/v1/conversation", account.auth),
        ("/api/v1/lead/company", account.auth), ("/api/v1/document", account.auth),
        ("/api/v1/audit-log", account.auth), ("/api/v1/admin/user", account.auth),
        ("/api/v1/super-admin/company", root), ("/api/v1/company/deleted", root),
        ("/api/v1/message/deleted", account.auth),
    ]
    for path, headers in lists:
        for query in ({"page": 10**20}, {"page": 2, "per_page": 10**6}, {"page": -1}):
            r = await gateway.get(path, params=query, headers=headers)
            assert r.status_code == 422, (path, query, r.text)
        past = await gateway.get(path, params={"page": 999_999, "per_page": 1}, headers=headers)
        assert past.status_code == 200, (path, past.text)
    agents = (await gateway.get("/api/v1/agent", params={"page": 5, "per_page": 2},
                                headers=account.auth)).json()
    assert agents["agents"] == []
    assert agents["pagination"]["total"] == 3 and agents["pagination"]["pages"] == 2


async def test_unknown_provider_or_model_id_in_an_update_returns_404_naming_the_field(
    gateway
) -> None:
    account = await sign_up(gateway)
    settings = await offline_settings(gateway, account)
    ids = {f: settings[f] for f in (
        "llm_provider_id", "llm_model_id", "embedding_provider_id", "embedding_model_id")}
    r = await gateway.post("/api/v1/agent", json={"name": "Own settings", **ids}, headers=account.auth)
    assert r.status_code == 201, r.text
    agent = r.json()
    for path in (f"/api/v1/agent/{agent['id']}", f"/api/v1/settings/{settings['id']}"):
        for field in ("llm_provider_id", "embedding_model_id"):
            r = await gateway.put(path, json={field: str(uuid.uuid4())}, headers=account.auth)
            assert r.status_code == 404, (path, r.text)
            assert r.json()["detail"][0]["loc"] == ["body", field]


async def test_repeated_wrong_api_secrets_lock_that_key_with_429(gateway) -> None:
    account = await sign_up(gateway)
    key, other = await api_key(gateway, account), await api_key(gateway, account)
    wrong = {**key_headers(key), "X-API-Secret": key["X-API-Secret"][:-2] + "xx"}
    refused = [(await gateway.get("/api/v1/agent", headers=wrong)).status_code for _ in range(4)]
    assert refused == [401] * 4
    for headers in (wrong, key_headers(key)):  # the fifth wrong secret locks: the right one too
        r = await gateway.get("/api/v1/agent", headers=headers)
        assert r.status_code == 429 and r.json()["error"] == "api_key_locked"
        assert 0 < int(r.headers["Retry-After"]) <= 15 * 60
    assert (await gateway.get("/api/v1/agent", headers=key_headers(other))).status_code == 200
