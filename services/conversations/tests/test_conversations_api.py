"""Conversations and messages API (no chat) on the real conversations app, with PostgreSQL,
NATS and Redis from the embedded stack; messages are stored directly as a chat would leave them."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from knowrithm_common.identity import Principal, Role
from knowrithm_conversations.models import shared

from .support import add_agent, add_messages, admin, api_key, lead, member


async def start(call, principal, agent_id, **body):
    r = await call("POST", "/api/v1/conversation", principal, json={"agent_id": str(agent_id), **body})
    assert r.status_code == 201, r.text
    return r.json()["conversation"]


async def listed(call, principal, path="/api/v1/conversation", **params):
    r = await call("GET", path, principal, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ids(items):
    return {item["id"] for item in items}


async def outbox_types(app, conversation_id):
    async with app.state.db.sessions() as session:
        rows = await session.scalars(
            select(shared.outbox.c.envelope).order_by(shared.outbox.c.created_at, shared.outbox.c.id)
        )
        return [e["type"] for e in rows if e["data"].get("conversation_id") == conversation_id]


async def test_created_conversation_belongs_to_caller_shows_agent_and_is_announced(client, call):
    company_id, agent_id = await add_agent(client.app, name="Support Bot")
    alice = member(company_id)
    conversation = await start(call, alice, agent_id, title="Refund question", metadata={"channel": "web"},
                               max_context_length=8000)
    assert conversation["entity_type"] == "user" and conversation["entity_id"] == str(alice.user_id)
    assert conversation["title"] == "Refund question" and conversation["metadata"] == {"channel": "web"}
    assert conversation["max_context_length"] == 8000 and conversation["context_strategy"] == "sliding_window"
    assert conversation["message_count"] == 0 and conversation["status"] == "active"
    assert conversation["agent"]["name"] == "Support Bot"

    r = await call("GET", f"/api/v1/conversation/{conversation['id']}", alice)
    assert r.status_code == 200 and r.json()["conversation"]["agent"]["name"] == "Support Bot"
    body = await listed(call, alice)
    assert ids(body["conversations"]) == {conversation["id"]} and body["pagination"]["total"] == 1
    assert await outbox_types(client.app, conversation["id"]) == ["conversations.conversation.created.v1"]


async def test_defaults_apply_when_only_the_agent_is_given(client, call):
    company_id, agent_id = await add_agent(client.app)
    conversation = await start(call, member(company_id), agent_id)
    assert conversation["title"] == "New Conversation" and conversation["max_context_length"] == 4000


async def test_messages_come_oldest_first_in_pages_with_seconds_and_tokens(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = member(company_id)
    conversation = await start(call, alice, agent_id)
    stored = await add_messages(client.app, conversation["id"], 5)

    path = f"/api/v1/conversation/{conversation['id']}/messages"
    first = await listed(call, alice, path, per_page=2)
    assert [m["id"] for m in first["messages"]] == [str(i) for i in stored[:2]]
    assert first["pagination"] == {"page": 1, "per_page": 2, "total": 5, "pages": 3, "has_next": True,
                                   "has_prev": False}
    answer = first["messages"][1]
    assert answer["role"] == "assistant" and answer["processing_time"] == 1.5 and answer["tokens_used"] == 15
    last = await listed(call, alice, path, per_page=2, page=3)
    assert [m["id"] for m in last["messages"]] == [str(stored[4])] and not last["pagination"]["has_next"]
    assert (await listed(call, alice, path))["pagination"]["per_page"] == 50
    r = await call("GET", f"/api/v1/conversation/{conversation['id']}", alice)
    assert r.json()["conversation"]["message_count"] == 5


async def test_members_see_only_their_own_and_admins_see_the_company(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice, bob, boss = member(company_id), member(company_id), admin(company_id)
    mine = await start(call, alice, agent_id)
    theirs = await start(call, bob, agent_id)
    await add_messages(client.app, mine["id"], 2)

    for method, path in [("GET", f"/api/v1/conversation/{mine['id']}"),
                         ("GET", f"/api/v1/conversation/{mine['id']}/messages"),
                         ("DELETE", f"/api/v1/conversation/{mine['id']}/messages"),
                         ("DELETE", f"/api/v1/conversation/{mine['id']}")]:
        r = await call(method, path, bob)
        assert r.status_code == 404 and r.json()["error"] == "conversation_not_found", (method, path)
    assert ids((await listed(call, bob))["conversations"]) == {theirs["id"]}
    r = await call("GET", f"/api/v1/conversation/entity/{alice.user_id}", bob)
    assert r.status_code == 404 and r.json()["error"] == "entity_not_found"
    assert ids((await listed(call, bob, f"/api/v1/conversation/entity/{bob.user_id}"))["conversations"]) == {
        theirs["id"]}

    assert ids((await listed(call, boss))["conversations"]) == {mine["id"], theirs["id"]}
    assert (await listed(call, boss, f"/api/v1/conversation/{mine['id']}/messages"))["pagination"]["total"] == 2
    by_alice = await listed(call, boss, f"/api/v1/conversation/entity/{alice.user_id}")
    assert ids(by_alice["conversations"]) == {mine["id"]}
    assert (await listed(call, boss, "/api/v1/conversation/entity"))["conversations"] == []
    by_agent = await listed(call, bob, f"/api/v1/conversation/agent/{agent_id}")
    assert ids(by_agent["conversations"]) == {theirs["id"]}
    r = await call("DELETE", f"/api/v1/conversation/{mine['id']}", boss)
    assert r.status_code == 200 and r.json()["deleted_messages_count"] == 2


async def test_another_company_gets_404_on_every_id_route(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = member(company_id)
    conversation = await start(call, alice, agent_id)
    live_id = str((await add_messages(client.app, conversation["id"], 2))[0])
    deleted = await start(call, alice, agent_id)
    deleted_message = str((await add_messages(client.app, deleted["id"], 1))[0])
    await call("DELETE", f"/api/v1/conversation/{deleted['id']}", alice)
    stranger = admin(uuid.uuid4())
    cid = conversation["id"]
    routes = [
        ("GET", f"/api/v1/conversation/{cid}"), ("GET", f"/api/v1/conversation/{cid}/messages"),
        ("DELETE", f"/api/v1/conversation/{cid}"), ("DELETE", f"/api/v1/conversation/{cid}/messages"),
        ("PATCH", f"/api/v1/conversation/{cid}/message/restore-all"),
        ("PATCH", f"/api/v1/conversation/{deleted['id']}/restore"),
        ("GET", f"/api/v1/conversation/agent/{agent_id}"),
        ("DELETE", f"/api/v1/message/{live_id}"), ("PATCH", f"/api/v1/message/{deleted_message}/restore"),
    ]
    for method, path in routes:
        r = await call(method, path, stranger)
        assert r.status_code == 404, (method, path, r.text)
    assert (await listed(call, stranger))["conversations"] == []
    assert (await listed(call, stranger, "/api/v1/conversation/deleted"))["deleted_conversations"] == []
    assert (await listed(call, stranger, "/api/v1/message/deleted"))["deleted_messages"] == []
    r = await call("POST", "/api/v1/conversation", stranger, json={"agent_id": str(agent_id)})
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"


async def test_deleting_a_conversation_hides_it_with_its_messages_and_restore_brings_them_back(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = member(company_id)
    conversation = await start(call, alice, agent_id)
    cid = conversation["id"]
    first, *others = await add_messages(client.app, cid, 3)
    assert (await call("DELETE", f"/api/v1/message/{first}", alice)).status_code == 200

    r = await call("DELETE", f"/api/v1/conversation/{cid}", alice)
    assert r.status_code == 200 and r.json() == {"message": "Conversation deleted", "conversation_id": cid,
                                                 "deleted_messages_count": 2}
    assert (await call("GET", f"/api/v1/conversation/{cid}", alice)).status_code == 404
    assert (await call("DELETE", f"/api/v1/conversation/{cid}", alice)).status_code == 404
    assert cid not in ids((await listed(call, alice))["conversations"])
    gone = (await listed(call, alice, "/api/v1/conversation/deleted"))["deleted_conversations"]
    assert ids(gone) == {cid} and gone[0]["is_active"] is False and gone[0]["message_count"] == 2
    deleted_status = await listed(call, alice, f"/api/v1/conversation/agent/{agent_id}", status="deleted")
    assert ids(deleted_status["conversations"]) == {cid}

    r = await call("PATCH", f"/api/v1/conversation/{cid}/restore", alice)
    assert r.status_code == 200 and r.json()["restored_messages_count"] == 2
    messages = (await listed(call, alice, f"/api/v1/conversation/{cid}/messages"))["messages"]
    assert [m["id"] for m in messages] == [str(i) for i in others]
    assert (await call("GET", f"/api/v1/conversation/{cid}", alice)).json()["conversation"]["message_count"] == 2
    assert (await call("PATCH", f"/api/v1/conversation/{cid}/restore", alice)).status_code == 404
    assert await outbox_types(client.app, cid) == [
        "conversations.conversation.created.v1", "conversations.conversation.deleted.v1",
        "conversations.conversation.restored.v1"]


async def test_message_delete_and_restore_keep_the_message_count(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = member(company_id)
    conversation = await start(call, alice, agent_id)
    cid = conversation["id"]
    first, _ = await add_messages(client.app, cid, 2)

    r = await call("DELETE", f"/api/v1/message/{first}", alice)
    assert r.status_code == 200 and r.json() == {"message": "Message deleted", "message_id": str(first)}
    assert (await call("DELETE", f"/api/v1/message/{first}", alice)).json()["error"] == "message_not_found"
    count = (await call("GET", f"/api/v1/conversation/{cid}", alice)).json()["conversation"]["message_count"]
    assert count == 1
    deleted = (await listed(call, alice, "/api/v1/message/deleted"))["deleted_messages"]
    assert [m["id"] for m in deleted] == [str(first)] and deleted[0]["is_active"] is False

    r = await call("PATCH", f"/api/v1/message/{first}/restore", alice)
    assert r.status_code == 200 and r.json()["message_id"] == str(first)
    assert (await call("GET", f"/api/v1/conversation/{cid}", alice)).json()["conversation"]["message_count"] == 2
    assert (await call("PATCH", f"/api/v1/message/{first}/restore", alice)).status_code == 404


async def test_restoring_a_message_of_a_deleted_conversation_answers_400(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = member(company_id)
    conversation = await start(call, alice, agent_id)
    (message,) = await add_messages(client.app, conversation["id"], 1)
    await call("DELETE", f"/api/v1/conversation/{conversation['id']}", alice)

    r = await call("PATCH", f"/api/v1/message/{message}/restore", alice)
    assert r.status_code == 400 and r.json()["error"] == "conversation_deleted"
    assert "restore the conversation" in r.json()["message"]


async def test_all_messages_can_be_deleted_and_restored_while_the_conversation_stays(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = member(company_id)
    conversation = await start(call, alice, agent_id)
    cid = conversation["id"]
    await add_messages(client.app, cid, 3)

    r = await call("DELETE", f"/api/v1/conversation/{cid}/messages", alice)
    assert r.status_code == 200 and r.json()["deleted_messages_count"] == 3
    after = (await call("GET", f"/api/v1/conversation/{cid}", alice)).json()["conversation"]
    assert after["message_count"] == 0
    assert (await listed(call, alice, f"/api/v1/conversation/{cid}/messages"))["messages"] == []
    r = await call("PATCH", f"/api/v1/conversation/{cid}/message/restore-all", alice)
    assert r.status_code == 200 and r.json()["restored_messages_count"] == 3
    assert (await listed(call, alice, f"/api/v1/conversation/{cid}/messages"))["pagination"]["total"] == 3
    assert (await call("GET", f"/api/v1/conversation/{cid}", alice)).json()["conversation"]["message_count"] == 3


@pytest.mark.parametrize("body, status, error", [
    ({}, 422, "validation_error"),
    ({"agent_id": "not-a-uuid"}, 422, "validation_error"),
    ({"agent_id": "AGENT", "max_context_length": 500}, 422, "validation_error"),
    ({"agent_id": "AGENT", "title": ""}, 422, "validation_error"),
    ({"agent_id": str(uuid.uuid4())}, 404, "agent_not_found"),
])
async def test_bad_create_requests_say_what_is_wrong(client, call, body, status, error):
    company_id, agent_id = await add_agent(client.app)
    body = {k: str(agent_id) if v == "AGENT" else v for k, v in body.items()}
    r = await call("POST", "/api/v1/conversation", member(company_id), json=body)
    assert r.status_code == status and r.json()["error"] == error, r.text


async def test_malformed_ids_answer_422_and_unknown_ones_404(client, call):
    company_id, _ = await add_agent(client.app)
    alice = member(company_id)
    for path in ["/api/v1/conversation/not-a-uuid", "/api/v1/conversation/not-a-uuid/messages",
                 "/api/v1/conversation/agent/42"]:
        assert (await call("GET", path, alice)).status_code == 422, path
    assert (await call("DELETE", "/api/v1/message/nope", alice)).status_code == 422
    r = await call("GET", f"/api/v1/conversation/{uuid.uuid4()}", alice)
    assert r.status_code == 404 and r.json()["error"] == "conversation_not_found"
    r = await call("GET", f"/api/v1/conversation/agent/{uuid.uuid4()}", alice)
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"


async def test_a_lead_sees_only_its_own_conversations(client, call):
    company_id, agent_id = await add_agent(client.app)
    visitor, other_visitor = await lead(client.app, company_id), await lead(client.app, company_id)
    alice, boss = member(company_id), admin(company_id)
    its_own = await start(call, visitor, agent_id)
    assert its_own["entity_type"] == "lead" and its_own["entity_id"] == str(visitor.lead_id)
    others = await start(call, other_visitor, agent_id)
    members = await start(call, alice, agent_id)

    assert ids((await listed(call, visitor))["conversations"]) == {its_own["id"]}
    assert ids((await listed(call, visitor, "/api/v1/conversation/entity"))["conversations"]) == {its_own["id"]}
    for conversation in (others, members):
        assert (await call("GET", f"/api/v1/conversation/{conversation['id']}", visitor)).status_code == 404
    assert (await call("GET", f"/api/v1/conversation/{its_own['id']}", alice)).status_code == 404
    r = await call("GET", f"/api/v1/conversation/entity/{visitor.lead_id}", visitor, params={"entity_type": "lead"})
    assert ids(r.json()["conversations"]) == {its_own["id"]}
    r = await call("GET", f"/api/v1/conversation/entity/{visitor.lead_id}", visitor)  # asks for a user
    assert r.status_code == 404
    by_admin = await listed(call, boss, f"/api/v1/conversation/entity/{visitor.lead_id}", entity_type="lead")
    assert ids(by_admin["conversations"]) == {its_own["id"]}
    assert (await call("DELETE", f"/api/v1/conversation/{its_own['id']}", visitor)).status_code == 200


async def test_an_api_key_acts_as_its_owner_within_its_scopes(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice, boss = member(company_id), admin(company_id)
    by_key = await start(call, api_key(alice), agent_id)
    assert by_key["entity_type"] == "user" and by_key["entity_id"] == str(alice.user_id)
    by_boss = await start(call, boss, agent_id)

    assert ids((await listed(call, alice))["conversations"]) == {by_key["id"]}
    reader = api_key(alice, scopes=["read"])
    assert ids((await listed(call, reader))["conversations"]) == {by_key["id"]}
    r = await call("POST", "/api/v1/conversation", reader, json={"agent_id": str(agent_id)})
    assert r.status_code == 403
    assert (await call("DELETE", f"/api/v1/conversation/{by_key['id']}", reader)).status_code == 403
    admin_key = api_key(boss, scopes=["read"])
    assert ids((await listed(call, admin_key))["conversations"]) == {by_key["id"], by_boss["id"]}


async def test_a_super_admin_sees_conversations_of_any_company(client, call):
    company_id, agent_id = await add_agent(client.app)
    conversation = await start(call, member(company_id), agent_id)
    root = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)
    r = await call("GET", f"/api/v1/conversation/{conversation['id']}", root)
    assert r.status_code == 200 and r.json()["conversation"]["company_id"] == str(company_id)
