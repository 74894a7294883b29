"""Leads API on the real conversations app, with PostgreSQL, NATS and Redis from the embedded
stack: public registration with a lead token, the company's CRUD and statuses, encryption at
rest, GDPR export and erasure."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text, update

from knowrithm_common.identity import Principal, Role
from knowrithm_common.leadtokens import LeadTokenVerifier
from knowrithm_common.tokens import REVOKED_JTI_KEY
from knowrithm_conversations.models import AgentView, shared

from .support import add_agent, add_messages, admin, api_key, member

REGISTER = "/api/v1/lead/register"


def verifier(app) -> LeadTokenVerifier:
    pem = app.state.settings.knowrithm_lead_token_private_key.get_secret_value()
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return LeadTokenVerifier(public.decode())


def as_lead(lead: dict) -> Principal:
    """The principal the gateway asserts for this lead's token."""
    return Principal(kind="lead", role=Role.LEAD, company_id=uuid.UUID(lead["company_id"]),
                     lead_id=uuid.UUID(lead["id"]))


def visitor(agent_id, **extra) -> dict:
    tag = uuid.uuid4().hex[:8]
    return {"agent_id": str(agent_id), "first_name": "Ada", "last_name": "Lovelace",
            "email": f"ada.{tag}@example.com", "phone": "+44 20 7946 0958", "consent_data_processing": True,
            **extra}


async def register(call, agent_id, headers=None, **extra) -> dict:
    r = await call("POST", REGISTER, json=visitor(agent_id, **extra), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def create(call, principal, **body) -> dict:
    tag = uuid.uuid4().hex[:8]
    payload = {"first_name": "Grace", "last_name": "Hopper", "email": f"grace.{tag}@example.com", **body}
    r = await call("POST", "/api/v1/lead", principal, json=payload)
    assert r.status_code == 201, r.text
    return r.json()["lead"]


async def events(app, lead_id) -> list[dict]:
    async with app.state.db.sessions() as session:
        rows = await session.scalars(select(shared.outbox.c.envelope))
        found = [e for e in rows if e["data"].get("lead_id") == str(lead_id)]
    return sorted(found, key=lambda e: dt.datetime.fromisoformat(e["time"]))  # in the order recorded


async def set_widget_config(app, agent_id, config: dict) -> None:
    async with app.state.db.sessions() as session, session.begin():
        await session.execute(update(AgentView).where(AgentView.agent_id == agent_id).values(widget_config=config))


async def test_a_visitor_registers_and_gets_a_conversation_and_a_token_for_it(client, call):
    company_id, agent_id = await add_agent(client.app, name="Sales Bot")
    body = await register(call, agent_id, source="pricing_page", title="Pricing")
    lead, conversation = body["lead"], body["conversation"]
    assert lead["full_name"] == "Ada Lovelace" and lead["email"].startswith("ada.") and lead["status"] == "new"
    assert lead["company_id"] == str(company_id) and lead["agent_id"] == str(agent_id)
    assert lead["source"] == "pricing_page" and lead["consent_data_processing"] is True
    assert conversation["entity_type"] == "lead" and conversation["entity_id"] == lead["id"]
    assert conversation["title"] == "Pricing" and conversation["agent"]["name"] == "Sales Bot"

    claims = verifier(client.app).verify(body["lead_token"])
    assert str(claims.lead_id) == lead["id"] and str(claims.conversation_id) == conversation["id"]
    assert body["token_type"] == "Bearer"
    assert dt.datetime.fromisoformat(body["expires_at"]).timestamp() == claims.exp

    r = await call("GET", f"/api/v1/conversation/{conversation['id']}", as_lead(lead))
    assert r.status_code == 200, r.text
    r = await call("GET", "/api/v1/conversation/entity", as_lead(lead))
    assert [c["id"] for c in r.json()["conversations"]] == [conversation["id"]]
    (registered,) = await events(client.app, lead["id"])
    assert registered["type"] == "conversations.lead.registered.v1"
    assert registered["data"]["channel"] == "widget" and registered["data"]["conversation_id"] == conversation["id"]
    assert lead["email"] not in str(registered) and "Lovelace" not in str(registered)


async def test_a_visitor_may_register_without_a_conversation_or_optional_fields(client, call):
    _, agent_id = await add_agent(client.app)
    body = await register(call, agent_id, start_conversation=False, last_name="", phone=" ")
    assert body["conversation"] is None
    assert (body["lead"]["last_name"], body["lead"]["phone"], body["lead"]["full_name"]) == (None, None, "Ada")
    assert verifier(client.app).verify(body["lead_token"]).conversation_id is None


async def test_email_and_phone_are_not_stored_in_clear(client, call):
    _, agent_id = await add_agent(client.app)
    lead = (await register(call, agent_id))["lead"]
    async with client.app.state.db.sessions() as session:
        row = (await session.execute(text("SELECT * FROM conversations.leads WHERE id = :id"),
                                     {"id": lead["id"]})).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    assert lead["email"] not in stored and lead["email"].upper() not in stored.upper()
    assert "7946" not in stored
    assert row["email_encrypted"] and row["phone_encrypted"] and len(row["email_hash"]) == 64


async def test_registration_refuses_consent_withheld_a_bad_email_and_an_inactive_agent(client, call):
    _, agent_id = await add_agent(client.app)
    r = await call("POST", REGISTER, json=visitor(agent_id, consent_data_processing=False))
    assert r.status_code == 422 and r.json()["error"] == "consent_required", r.text
    assert "consent" in r.json()["message"]
    # The reference API's default is consent given: a client that leaves it out registers.
    unstated = {k: v for k, v in visitor(agent_id).items() if k != "consent_data_processing"}
    r = await call("POST", REGISTER, json=unstated)
    assert r.status_code == 201 and r.json()["lead"]["consent_data_processing"] is True, r.text
    r = await call("POST", REGISTER, json=visitor(agent_id, email="not-an-email"))
    assert r.status_code == 422 and r.json()["error"] == "validation_error"
    r = await call("POST", REGISTER, json=visitor(agent_id, first_name="  "))
    assert r.status_code == 422

    _, inactive = await add_agent(client.app, status="inactive")
    for missing in (inactive, uuid.uuid4()):
        r = await call("POST", REGISTER, json=visitor(missing))
        assert r.status_code == 404 and r.json()["error"] == "agent_not_available", r.text


async def test_a_site_outside_the_agents_allowed_origins_cannot_register_visitors(client, call):
    _, agent_id = await add_agent(client.app)
    await set_widget_config(client.app, agent_id, {"allowed_origins": ["https://shop.example.com/"]})
    r = await call("POST", REGISTER, json=visitor(agent_id), headers={"Origin": "https://evil.example.net"})
    assert r.status_code == 403 and r.json()["error"] == "origin_not_allowed"
    await register(call, agent_id, headers={"Origin": "https://SHOP.example.com"})
    await register(call, agent_id)  # no Origin: not a browser, nothing to check


async def test_registering_again_with_the_same_email_never_reaches_the_first_leads_conversations(client, call):
    _, agent_id = await add_agent(client.app)
    first = await register(call, agent_id)
    again = await register(call, agent_id, email=first["lead"]["email"].upper())
    assert again["lead"]["id"] != first["lead"]["id"]
    conversation_id = first["conversation"]["id"]
    for path in (f"/api/v1/conversation/{conversation_id}", f"/api/v1/conversation/{conversation_id}/messages"):
        r = await call("GET", path, as_lead(again["lead"]))
        assert r.status_code == 404, r.text
    r = await call("GET", "/api/v1/conversation/entity", as_lead(again["lead"]))
    assert [c["id"] for c in r.json()["conversations"]] == [again["conversation"]["id"]]


async def test_members_read_the_companys_leads_filtered_by_name_email_status_and_agent(client, call):
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    grace = await create(call, boss, status="qualified", notes="Wants the premium plan")
    linus = await create(call, boss, first_name="Linus", last_name="Torvalds", agent_id=str(agent_id))
    ada = (await register(call, agent_id))["lead"]
    reader = member(company_id)

    async def listed(**params) -> list[str]:
        r = await call("GET", "/api/v1/lead/company", reader, params=params)
        assert r.status_code == 200 and r.json()["success"] is True, r.text
        return [lead["id"] for lead in r.json()["data"]["leads"]]

    assert await listed() == [ada["id"], linus["id"], grace["id"]]
    assert await listed(search="torv") == [linus["id"]]
    assert await listed(search="grace hop") == [grace["id"]]
    assert await listed(search=ada["email"].upper()) == [ada["id"]]
    assert await listed(search=ada["email"][:6]) == []  # emails match exactly, never by a fragment
    assert await listed(status="qualified") == [grace["id"]]
    assert await listed(agent_id=str(agent_id)) == [ada["id"], linus["id"]]
    r = await call("GET", "/api/v1/lead/company", reader, params={"per_page": 2})
    assert r.json()["data"]["pagination"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2,
                                              "has_next": True, "has_prev": False}
    r = await call("GET", f"/api/v1/lead/{grace['id']}", reader)
    assert r.status_code == 200 and r.json()["lead"]["notes"] == "Wants the premium plan"
    r = await call("POST", "/api/v1/lead", reader, json={"first_name": "X", "email": "x@example.com"})
    assert r.status_code == 403


@pytest.mark.parametrize("path", ["/api/v1/lead", "/api/v1/sdk/lead"])
async def test_super_admin_naming_no_company_gets_the_common_400_company_id_required(client, call, path):
    company_id, _ = await add_agent(client.app)
    root = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)
    r = await call("POST", path, root, json={"first_name": "Kay", "email": "kay@example.com"})
    assert (r.status_code, r.json()["error"]) == (400, "company_id_required"), r.text
    # Naming it, in the body or as the subject's `?company_id=`, records the lead there.
    r = await call("POST", path, root, params={"company_id": str(company_id)},
                   json={"first_name": "Kay", "email": "kay@example.com"})
    assert r.status_code == 201 and r.json()["lead"]["company_id"] == str(company_id), r.text


async def test_admins_create_leads_with_the_sdk_twin_and_super_admins_name_the_company(client, call):
    company_id, _ = await add_agent(client.app)
    r = await call("POST", "/api/v1/sdk/lead", api_key(admin(company_id), scopes=["write"]),
                   json={"first_name": "Kay", "email": "kay@example.com", "phone": "+1 555 0100"})
    assert r.status_code == 201 and r.json()["lead"]["phone"] == "+1 555 0100", r.text
    assert r.json()["lead"]["agent_id"] is None and r.json()["lead"]["consent_data_processing"] is True

    root = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)
    r = await call("POST", "/api/v1/lead", root, json={"first_name": "Kay", "email": "kay@example.com"})
    # Was 422 `company_required` (a sixth CompanyRequired): now the one common 400 (issue 14).
    assert r.status_code == 400 and r.json()["error"] == "company_id_required"
    lead = await create(call, root, company_id=str(company_id))
    assert lead["company_id"] == str(company_id)
    r = await call("POST", "/api/v1/lead", admin(company_id),
                   json={"first_name": "Kay", "email": "kay@example.com", "company_id": str(uuid.uuid4())})
    assert r.status_code == 404 and r.json()["error"] == "company_not_found"
    r = await call("POST", "/api/v1/lead", admin(company_id),
                   json={"first_name": "Kay", "email": "kay@example.com", "agent_id": str(uuid.uuid4())})
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"


async def test_status_changes_are_recorded_and_announced_without_personal_data(client, call):
    company_id, _ = await add_agent(client.app)
    boss = admin(company_id)
    lead = await create(call, boss)
    path = f"/api/v1/lead/{lead['id']}"

    r = await call("PUT", path, boss, json={"status": "contacted", "notes": "Called on Monday"})
    assert r.status_code == 200 and r.json()["lead"]["last_contacted_at"] is not None, r.text
    r = await call("PUT", f"/api/v1/sdk/lead/{lead['id']}", boss, json={"status": "converted"})
    converted = r.json()["lead"]
    assert converted["status"] == "converted" and converted["converted_at"] is not None
    assert converted["notes"] == "Called on Monday" and converted["email"] == lead["email"]

    found = await events(client.app, lead["id"])
    assert [e["type"] for e in found] == ["conversations.lead.registered.v1", "conversations.lead.updated.v1",
                                          "conversations.lead.updated.v1", "conversations.lead.converted.v1"]
    assert [(e["data"]["previous_status"], e["data"]["status"]) for e in found[1:3]] == [
        ("new", "contacted"), ("contacted", "converted")]
    assert found[1]["data"]["changed"] == ["notes", "status"]
    assert lead["email"] not in str(found) and "Monday" not in str(found)


async def test_a_changed_email_is_encrypted_and_found_again(client, call):
    company_id, _ = await add_agent(client.app)
    boss = admin(company_id)
    lead = await create(call, boss)
    r = await call("PUT", f"/api/v1/lead/{lead['id']}", boss, json={"email": "New.Address@Example.com"})
    assert r.status_code == 200, r.text
    r = await call("GET", "/api/v1/lead/company", boss, params={"search": "new.address@example.com"})
    assert [found["id"] for found in r.json()["data"]["leads"]] == [lead["id"]]
    assert not (await call("GET", "/api/v1/lead/company", boss, params={"search": lead["email"]})
                ).json()["data"]["leads"]


async def test_invalid_changes_are_refused(client, call):
    company_id, _ = await add_agent(client.app)
    boss = admin(company_id)
    lead = await create(call, boss)
    for body in ({"first_name": None}, {"email": None}, {"metadata": None}, {"status": "won"}, {"email": "nope"},
                 {"phone": "call me"}):
        r = await call("PUT", f"/api/v1/lead/{lead['id']}", boss, json=body)
        assert r.status_code == 422, (body, r.text)


async def test_another_companys_lead_answers_404_everywhere(client, call):
    company_id, agent_id = await add_agent(client.app)
    lead = (await register(call, agent_id))["lead"]
    intruder, _ = await add_agent(client.app)
    them = admin(intruder)
    for method, path, body in [("GET", "", None), ("PUT", "", {"notes": "mine"}), ("DELETE", "", None),
                               ("GET", "/export", None), ("DELETE", "/data", None)]:
        r = await call(method, f"/api/v1/lead/{lead['id']}{path}", them, json=body)
        assert r.status_code == 404 and r.json()["error"] == "lead_not_found", (method, path, r.text)
    r = await call("GET", "/api/v1/lead/company", them)
    assert lead["id"] not in str(r.json())
    r = await call("GET", f"/api/v1/lead/{lead['id']}", admin(company_id))
    assert r.status_code == 200 and r.json()["lead"]["notes"] is None


async def test_deleting_a_lead_hides_it_and_revokes_its_token(client, call):
    company_id, agent_id = await add_agent(client.app)
    body = await register(call, agent_id)
    lead = body["lead"]
    boss = admin(company_id)
    r = await call("DELETE", f"/api/v1/lead/{lead['id']}", boss)
    assert r.status_code == 200 and r.json()["lead_id"] == lead["id"], r.text
    assert (await call("GET", f"/api/v1/lead/{lead['id']}", boss)).status_code == 404
    assert lead["id"] not in str((await call("GET", "/api/v1/lead/company", boss)).json())
    jti = verifier(client.app).verify(body["lead_token"]).jti
    redis = client.app.state.redis
    assert await redis.exists(REVOKED_JTI_KEY.format(jti=jti))
    assert 7 * 24 * 3600 - 60 < await redis.ttl(REVOKED_JTI_KEY.format(jti=jti)) <= 7 * 24 * 3600 + 60
    assert (await events(client.app, lead["id"]))[-1]["type"] == "conversations.lead.deleted.v1"


async def test_export_holds_the_lead_its_conversations_messages_and_feedback(client, call):
    company_id, agent_id = await add_agent(client.app)
    body = await register(call, agent_id)
    lead, conversation_id = body["lead"], body["conversation"]["id"]
    _, answer_id = await add_messages(client.app, conversation_id, 2)
    r = await call("POST", f"/api/v1/message/{answer_id}/feedback", as_lead(lead),
                   json={"thumbs": "up", "comment": "Very clear"})
    assert r.status_code == 201, r.text
    await call("DELETE", f"/api/v1/lead/{lead['id']}", admin(company_id))  # still exportable

    r = await call("GET", f"/api/v1/lead/{lead['id']}/export", admin(company_id))
    assert r.status_code == 200, r.text
    export = r.json()
    assert export["lead"]["email"] == lead["email"] and export["lead"]["phone"] == lead["phone"]
    (conversation,) = export["conversations"]
    assert conversation["id"] == conversation_id
    assert [m["content"] for m in conversation["messages"]] == ["message 0", "message 1"]
    assert [(f["message_id"], f["comment"]) for f in export["feedback"]] == [(str(answer_id), "Very clear")]
    assert (await call("GET", f"/api/v1/lead/{lead['id']}/export", member(company_id))).status_code == 403


async def test_erasure_removes_conversations_messages_feedback_and_personal_data(client, call):
    company_id, agent_id = await add_agent(client.app)
    body = await register(call, agent_id)
    lead, conversation_id = body["lead"], body["conversation"]["id"]
    _, answer_id = await add_messages(client.app, conversation_id, 2)
    r = await call("POST", f"/api/v1/message/{answer_id}/feedback", as_lead(lead), json={"rating": 2})
    assert r.status_code == 201, r.text
    redis = client.app.state.redis
    history = f"conversations:history:{conversation_id}"
    await redis.rpush(history, '{"role": "user", "content": "message 0"}')

    r = await call("DELETE", f"/api/v1/lead/{lead['id']}/data", admin(company_id))
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("deleted_conversations", "deleted_messages", "deleted_feedback")} == {
        "deleted_conversations": 1, "deleted_messages": 2, "deleted_feedback": 1}
    async with client.app.state.db.sessions() as session:
        left = (await session.execute(text(
            "SELECT (SELECT count(*) FROM conversations.conversations WHERE id = :c),"
            " (SELECT count(*) FROM conversations.messages WHERE conversation_id = :c),"
            " (SELECT count(*) FROM conversations.feedback WHERE conversation_id = :c)"), {"c": conversation_id})).one()
        row = (await session.execute(text("SELECT * FROM conversations.leads WHERE id = :id"),
                                     {"id": lead["id"]})).mappings().one()
    assert tuple(left) == (0, 0, 0)
    assert row["email_encrypted"] is None and row["email_hash"] is None and row["phone_encrypted"] is None
    assert row["first_name"] == "" and row["last_name"] is None and row["erased_at"] is not None
    jti = verifier(client.app).verify(body["lead_token"]).jti
    assert await redis.exists(REVOKED_JTI_KEY.format(jti=jti)) and not await redis.exists(history)
    for method, path in [("GET", "/export"), ("DELETE", "/data"), ("GET", "")]:
        r = await call(method, f"/api/v1/lead/{lead['id']}{path}", admin(company_id))
        assert r.status_code == 404, (path, r.text)
    gone = (await events(client.app, lead["id"]))[-1]
    assert gone["type"] == "conversations.lead.deleted.v1" and gone["data"]["erased"] is True
