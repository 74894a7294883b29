"""A chat turn as a task, on the real conversations app and answer pipeline (PostgreSQL, NATS and
Redis from the embedded stack; ingestion's search is a stand-in, see chat_support.py).

The 202 of `POST …/chat` names the answer's task and an absolute stream URL of this answer;
the task completes with the assistant message as the messages API shows it, or fails with the
reason a user can read; while it is not final, it tells pollers to come back within 250 ms.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update

from knowrithm_common.tasks import TaskStatus, create_task, update_task
from knowrithm_conversations.models import platform

from .chat_support import final_task, new_conversation, sse_events
from .support import add_agent, admin, member

FACT = "The night shift loads refrigerated trucks at dock 7 after midnight."
QUESTION = "When are refrigerated trucks loaded at dock 7?"


@pytest.fixture
async def trained(client, knowledge):
    """An agent whose knowledge holds FACT, a member of its company and their conversation."""
    company_id, agent_id = await add_agent(client.app)
    knowledge.passages[agent_id] = ["The day shift sorts parcels in hall B.", FACT]
    alice = member(company_id)
    return alice, agent_id, knowledge


async def ask(call, principal, conversation_id, message=QUESTION, **kw):
    return await call("POST", f"/api/v1/conversation/{conversation_id}/chat", principal,
                      json={"message": message}, **kw)


async def test_chat_202_names_its_task_and_an_absolute_stream_url_of_this_answer(call, trained):
    alice, agent_id, _ = trained
    conversation_id = await new_conversation(call, alice, agent_id)
    # as the gateway forwards a request that came in at https://chat.example.com
    r = await ask(call, alice, conversation_id,
                  headers={"X-Forwarded-Host": "chat.example.com", "X-Forwarded-Proto": "https"})
    assert r.status_code == 202, r.text
    accepted = r.json()
    answer_id, task_id = accepted["assistant_message_id"], accepted["task_id"]
    assert accepted["status"] == "queued" and accepted["status_url"] == f"/api/v1/tasks/{task_id}/status"
    assert accepted["poll_url"] == f"/api/v1/conversation/{conversation_id}/messages"
    assert accepted["stream_url"] == (
        f"https://chat.example.com/api/v1/conversation/{conversation_id}/messages/stream?message_id={answer_id}"
    )
    assert accepted["message_id"] != answer_id and accepted["conversation_id"] == conversation_id


async def test_stream_url_starts_with_base_url_when_it_is_set(client, call, trained, monkeypatch):
    alice, agent_id, _ = trained
    monkeypatch.setattr(client.app.state.settings, "base_url", "https://api.example.com/")
    conversation_id = await new_conversation(call, alice, agent_id)
    accepted = (await ask(call, alice, conversation_id, headers={"X-Forwarded-Host": "evil.example"})).json()
    assert accepted["stream_url"].startswith(
        f"https://api.example.com/api/v1/conversation/{conversation_id}/messages/stream?message_id="
    )


async def test_chat_task_completes_with_the_answer_as_the_messages_api_shows_it(call, trained):
    alice, agent_id, knowledge = trained
    conversation_id = await new_conversation(call, alice, agent_id)
    accepted = (await ask(call, alice, conversation_id)).json()

    task = await final_task(call, alice, accepted["task_id"])
    assert task["status"] == "completed" and task["kind"] == "chat" and task["progress"] == 100
    assert task["poll_after_ms"] is None and task["error"] is None
    result = task["result"]
    assert result["id"] == accepted["assistant_message_id"] and result["role"] == "assistant"
    assert "after midnight" in result["content"] and "[2]" in result["content"], result
    citation = result["citations"][0]
    assert (citation["document_id"], citation["page"]) == (str(knowledge.document_id), 2)
    messages = (await call("GET", f"/api/v1/conversation/{conversation_id}/messages", alice)).json()["messages"]
    assert messages[-1] == result  # the very rendering of the messages API


async def test_chat_task_fails_with_the_reason_a_user_can_read(call, trained):
    alice, agent_id, knowledge = trained
    knowledge.broken.add(agent_id)
    conversation_id = await new_conversation(call, alice, agent_id)
    accepted = (await ask(call, alice, conversation_id)).json()

    task = await final_task(call, alice, accepted["task_id"])
    assert task["status"] == "failed" and task["error"] == "Searching the agent's knowledge failed; please ask again"
    assert task["result"] == {"conversation_id": conversation_id, "message_id": accepted["assistant_message_id"],
                              "error_code": "retrieval_failed"}


async def test_chat_task_belongs_to_the_company_of_the_conversation(call, trained):
    alice, agent_id, _ = trained
    conversation_id = await new_conversation(call, alice, agent_id)
    accepted = (await ask(call, alice, conversation_id)).json()
    r = await call("GET", f"/api/v1/tasks/{accepted['task_id']}/status", admin(uuid.uuid4()))
    assert r.status_code == 404


async def test_unfinished_chat_tasks_tell_pollers_to_come_back_within_a_quarter_second(client, call):
    company_id = uuid.uuid4()
    async with client.app.state.db.sessions() as session, session.begin():
        chat = await create_task(session, platform.tasks, company_id=company_id, kind="chat")
        other = await create_task(session, platform.tasks, company_id=company_id, kind="reindex")
    owner = admin(company_id)
    assert (await call("GET", f"/api/v1/tasks/{chat}/status", owner)).json()["poll_after_ms"] == 250
    assert (await call("GET", f"/api/v1/tasks/{other}/status", owner)).json()["poll_after_ms"] == 1000
    async with client.app.state.db.sessions() as session, session.begin():
        await update_task(session, platform.tasks, chat, status=TaskStatus.RUNNING)
    assert (await call("GET", f"/api/v1/tasks/{chat}/status", owner)).json()["poll_after_ms"] == 250
    async with client.app.state.db.sessions() as session, session.begin():
        await session.execute(update(platform.tasks).where(platform.tasks.c.id == chat).values(status="completed"))
    assert (await call("GET", f"/api/v1/tasks/{chat}/status", owner)).json()["poll_after_ms"] is None


async def test_waiting_chat_answers_the_final_message_with_the_task_named(call, trained):
    alice, agent_id, _ = trained
    conversation_id = await new_conversation(call, alice, agent_id)
    r = await ask(call, alice, conversation_id, params={"wait": "true"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed" and "after midnight" in body["message"]["content"]
    assert body["status_url"] == f"/api/v1/tasks/{body['task_id']}/status"
    task = await final_task(call, alice, body["task_id"])
    assert task["result"]["content"] == body["message"]["content"]


async def test_streaming_chat_sends_queued_with_the_task_then_this_answer_and_ends(call, trained):
    alice, agent_id, _ = trained
    conversation_id = await new_conversation(call, alice, agent_id)
    r = await ask(call, alice, conversation_id, headers={"Accept": "text/event-stream"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)  # the response ended by itself after the final event
    names = [name for name, _ in events]
    assert names[0] == "queued" and names[1] == "started" and names[-1] == "completed", names
    queued = events[0][1]
    assert queued["task_id"] and queued["stream_url"].endswith(f"message_id={queued['assistant_message_id']}")
    tokens = [data for name, data in events if name == "token"]
    assert [t["seq"] for t in tokens] == list(range(len(tokens))) and len(tokens) >= 3
    assert "".join(t["text"] for t in tokens).strip() == events[-1][1]["message"]["content"]
