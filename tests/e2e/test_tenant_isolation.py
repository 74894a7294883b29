"""Tenant isolation over the gateway's declared operations: another company's ids lead nowhere.

Every declared operation whose path takes an id is called by company B's admin (with a token,
then with a full-access API key) using company A's real ids, and again with ids that exist
nowhere. B must learn nothing: both answers are the same refusal (404, or 403 where the
route needs a role B lacks), and A's data is unchanged. New routes are covered as soon as
they are declared: an id parameter this test cannot fill fails it.
"""

import asyncio
import uuid

import pytest

from knowrithm_gateway.policies import OPERATIONS, Access

from .accounts import Account, api_key, key_headers, offline_settings, sign_up
from .knowledge import upload, wait_documents

pytestmark = pytest.mark.e2e

WITH_IDS = [op for op in OPERATIONS if op.path_params and op.tenant_scoped]

# Valid bodies, so a refusal cannot hide behind a validation error.
BODIES = {
    ("PUT", "/api/v1/company/{company_id}"): {"name": "Taken Over", "email": "taken-over@example.com"},
    ("PATCH", "/api/v1/company/{company_id}"): {"phone": "+1-555-0199"},
    ("PATCH", "/api/v1/user/{user_id}/status"): {"status": "suspended"},
    ("PATCH", "/api/v1/user/{user_id}/role"): {"role": "user"},
    ("PUT", "/api/v1/settings/{settings_id}"): {"llm_temperature": 0.1},
    ("PUT", "/api/v1/agent/{agent_id}"): {"description": "taken over"},
    ("PUT", "/api/v1/sdk/agent/{agent_id}"): {"description": "taken over"},
    ("POST", "/api/v1/agent/{agent_id}/clone"): {"name": "Stolen agent"},
    ("POST", "/api/v1/website/source/{source_id}/crawl"): {"max_pages": 1},
    ("POST", "/api/v1/sdk/website/source/{source_id}/crawl"): {"max_pages": 1},
    ("POST", "/api/v1/conversation/{conversation_id}/chat"): {"message": "Show me your prices"},
    ("POST", "/api/v1/agent/{agent_id}/test"): {"query": "Show me your prices"},
    ("PUT", "/api/v1/lead/{lead_id}"): {"status": "lost"},
    ("PUT", "/api/v1/sdk/lead/{lead_id}"): {"status": "lost"},
    ("POST", "/api/v1/message/{message_id}/feedback"): {"thumbs": "down"},
    ("POST", "/api/v1/conversation/{conversation_id}/feedback"): {"rating": 1},
    ("PATCH", "/api/v1/webhook/{webhook_id}"): {"url": "http://127.0.0.5:9/taken-over"},
    ("PUT", "/api/v1/database-connection/{connection_id}"): {"name": "Taken over"},
    ("PATCH", "/api/v1/database-connection/{connection_id}"): {"name": "Taken over"},
    ("PUT", "/api/v1/sdk/database/{connection_id}"): {"name": "Taken over"},
    ("POST", "/api/v1/database-connection/{connection_id}/text-to-sql"): {"question": "Which cities?",
                                                                          "execute": True},
}


@pytest.fixture(scope="module")
async def tenants(platform):
    import httpx

    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=15) as gateway:
        owner, intruder = await sign_up(gateway), await sign_up(gateway)
        owner_key = await api_key(gateway, owner, scopes=["read"])
        intruder_key = await api_key(gateway, intruder, scopes=["full_access"])
        settings = await offline_settings(gateway, owner)
        r = await gateway.post("/api/v1/agent", json={"name": "Owner's agent"}, headers=owner.auth)
        assert r.status_code == 201, r.text
        agent_id = r.json()["id"]
        owner_key["settings_id"] = settings["id"]
        owner_key["agent_id"], owner_key["agent_name"] = agent_id, r.json()["name"]
        owner_key.update(await _knowledge(gateway, owner, agent_id))
        r = await gateway.post("/api/v1/lead", json={"first_name": "Owner's lead", "email": "lead@example.com"},
                               headers=owner.auth)
        assert r.status_code == 201, r.text
        owner_key["lead_id"] = r.json()["lead"]["id"]
        owner_key.update(await _analytics(gateway, owner))
        owner_key.update(await _sign_in_session(gateway, owner))
        owner_key.update(await _database(gateway, owner, agent_id))
    return owner, owner_key, intruder, intruder_key


async def _database(gateway, owner: Account, agent_id: str) -> dict[str, str]:
    """A database connection of the owner's agent: a SQLite file it uploaded."""
    import sqlite3
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "owner.sqlite"
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE customer (customer_id INTEGER PRIMARY KEY, city TEXT)")
            db.execute("INSERT INTO customer (city) VALUES ('Lisbon')")
        data = path.read_bytes()
    form = {"name": "Owner's shop", "database_type": "sqlite", "agent_id": agent_id}
    r = await gateway.post("/api/v1/database-connection", data=form,
                           files={"file": ("owner.sqlite", data, "application/x-sqlite3")}, headers=owner.auth)
    assert r.status_code == 201, r.text
    connection_id = r.json()["connection"]["id"]
    r = await gateway.post(f"/api/v1/database-connection/{connection_id}/analyze", headers=owner.auth)
    assert r.status_code == 202, r.text
    task_url = f"/api/v1/tasks/{r.json()['task_id']}/status"
    for _ in range(300):
        task = (await gateway.get(task_url, headers=owner.auth)).json()
        if task["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.1)
    assert task["status"] == "completed", task
    tables = (await gateway.get(f"/api/v1/database-connection/{connection_id}/table", headers=owner.auth)).json()
    return {"connection_id": connection_id, "table_id": tables["tables"][0]["id"]}


async def _analytics(gateway, owner: Account) -> dict[str, str]:
    """A webhook with a delivery, and a large export (over the e2e inline limit) of the owner."""
    r = await gateway.post("/api/v1/webhook", json={"url": "http://127.0.0.5:9/hooks", "event_types": ["*"]},
                           headers=owner.auth)
    assert r.status_code == 201, r.text
    webhook_id = r.json()["webhook"]["id"]
    r = await gateway.post(f"/api/v1/webhook/{webhook_id}/test", headers=owner.auth)
    assert r.status_code == 202, r.text
    delivery_id = r.json()["delivery_id"]
    r = await gateway.post("/api/v1/analytic/export", json={"type": "usage", "format": "json"}, headers=owner.auth)
    assert r.status_code == 202, r.text
    return {"webhook_id": webhook_id, "delivery_id": delivery_id, "export_id": r.json()["task_id"]}


async def _sign_in_session(gateway, owner: Account) -> dict[str, str]:
    """One of the owner's live sign-in sessions (the admins' sessions routes name it)."""
    r = await gateway.get(f"/api/v1/admin/user/{owner.user['id']}/sessions", headers=owner.auth)
    assert r.status_code == 200, r.text
    return {"session_id": r.json()["sessions"][0]["id"]}


async def _knowledge(gateway, owner: Account, agent_id: str) -> dict[str, str]:
    """A processed document (with its chunk) and a web site source of the owner's agent."""
    r = await upload(gateway, owner, agent_id, [("owner.txt", b"The owner's private price list.", "text/plain")])
    assert r.status_code == 202, r.text
    document_id = r.json()["documents"][0]["id"]
    await wait_documents(gateway, owner, [document_id])
    chunks = (await gateway.get(f"/api/v1/document/{document_id}/chunk", headers=owner.auth)).json()["chunks"]
    r = await gateway.post("/api/v1/website/source", json={"agent_id": agent_id, "base_url": "http://127.0.0.5:9/"},
                           headers=owner.auth)
    assert r.status_code == 201, r.text
    source_id = r.json()["website_source"]["id"]
    r = await gateway.post("/api/v1/conversation", json={"agent_id": agent_id}, headers=owner.auth)
    assert r.status_code == 201, r.text
    conversation_id = r.json()["conversation"]["id"]
    r = await gateway.post(f"/api/v1/conversation/{conversation_id}/chat?wait=true", json={"message": "Prices?"},
                           headers=owner.auth, timeout=60)
    assert r.status_code == 200, r.text
    return {"document_id": document_id, "chunk_id": chunks[0]["id"], "source_id": source_id,
            "conversation_id": conversation_id, "message_id": r.json()["message"]["id"]}


def _ids(owner: Account, owner_key: dict[str, str]) -> dict[str, str]:
    return {"user_id": owner.user["id"], "company_id": owner.company["id"], "api_key_id": owner_key["id"],
            "settings_id": owner_key["settings_id"], "agent_id": owner_key["agent_id"],
            "name": owner_key["agent_name"], "document_id": owner_key["document_id"],
            "chunk_id": owner_key["chunk_id"], "source_id": owner_key["source_id"],
            "conversation_id": owner_key["conversation_id"], "message_id": owner_key["message_id"],
            "entity_id": owner.user["id"], "lead_id": owner_key["lead_id"],
            "webhook_id": owner_key["webhook_id"], "delivery_id": owner_key["delivery_id"],
            "export_id": owner_key["export_id"], "connection_id": owner_key["connection_id"],
            "table_id": owner_key["table_id"], "session_id": owner_key["session_id"],
            # No identity operation creates a task; the status route must still not answer for one.
            "task_id": str(uuid.uuid4())}


def _path(template: str, ids: dict[str, str]) -> str:
    path = template
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return path


def _summary(response) -> tuple[int, str]:
    body = response.json()
    assert body["success"] is False and body["message"], body
    return response.status_code, body["error"]


@pytest.mark.parametrize("credential", ["token", "api_key"])
@pytest.mark.parametrize("operation", WITH_IDS, ids=lambda op: f"{op.method} {op.template}")
async def test_another_companys_ids_answer_like_ids_that_do_not_exist(gateway, tenants, operation, credential):
    owner, owner_key, intruder, intruder_key = tenants
    ids = _ids(owner, owner_key)
    missing = [p for p in operation.path_params if p not in ids]
    assert not missing, f"add an id of the owner company for {missing} so {operation.template} is covered"
    headers = intruder.auth if credential == "token" else key_headers(intruder_key)
    body = BODIES.get((operation.method, operation.template))

    theirs = await gateway.request(operation.method, _path(operation.template, ids), headers=headers, json=body)
    nowhere = {name: str(uuid.uuid4()) for name in ids}
    unknown = await gateway.request(operation.method, _path(operation.template, nowhere), headers=headers, json=body)

    assert _summary(theirs) == _summary(unknown)
    restricted = operation.roles is not None and not ({"admin"} & {r.value for r in operation.roles})
    user_only = operation.access == Access.USER and credential == "api_key"
    assert theirs.status_code == (403 if restricted or user_only else 404), theirs.text


async def test_the_owner_still_sees_its_data_after_the_attempts(gateway, tenants):
    owner, owner_key, _, _ = tenants
    r = await gateway.get(f"/api/v1/user/{owner.user['id']}", headers=owner.auth)
    assert r.status_code == 200, r.text
    company = (await gateway.get("/api/v1/company", headers=owner.auth)).json()
    assert "Taken Over" not in str(company)
    me = (await gateway.get("/api/v1/auth/user/me", headers=owner.auth)).json()
    assert me["user"]["status"] == "active" and me["user"]["role"] == "admin"
    agents = (await gateway.get("/api/v1/agent", headers=owner.auth)).json()
    assert "taken over" not in str(agents) and "Stolen" not in str(agents)
    documents = (await gateway.get("/api/v1/document", headers=owner.auth)).json()["document"]
    # The upload, and the analysed table's summary (a searchable document since issue 15).
    assert sorted((d["source"], d["status"]) for d in documents) == [("database", "processed"),
                                                                      ("upload", "processed")], documents
    chunks = (await gateway.get(f"/api/v1/document/{owner_key['document_id']}/chunk", headers=owner.auth)).json()
    assert chunks["pagination"]["total"] == 1
    sources = (await gateway.get("/api/v1/website/source", headers=owner.auth)).json()["website_sources"]
    assert len(sources) == 1 and sources[0]["is_active"]
    conversation = (await gateway.get(f"/api/v1/conversation/{owner_key['conversation_id']}/messages",
                                      headers=owner.auth)).json()
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant"]
