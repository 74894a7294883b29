"""Chat on the real conversations app and answer pipeline (PostgreSQL, NATS and Redis from the
embedded stack; ingestion's search is a stand-in, see chat_support.py). One module, so the app
starts once.

A chat turn as a task: the 202 of `POST …/chat` names the answer's task and an absolute stream
URL of this answer; the task completes with the assistant message as the messages API shows
it, or fails with the reason a user can read; while it is not final, it tells pollers to come
back within 250 ms.

Joining one answer's stream late (`GET …/messages/stream?message_id=`): the SDK opens it only
after the chat request returned, so the answer may be finished, half-streamed or not started.
Whatever the client missed comes first, then the live tokens exactly once, and the stream ends
after the answer's final event. Finished answers come from the real pipeline; for the other
cases the answer's rows are stored as the pipeline leaves them mid-answer and its events are
published on the real NATS subject, as the answerer does (the in-flight registry holds a turn
the way the answerer registers one).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import update

from knowrithm_common.events import new_event
from knowrithm_common.events.agents import AgentCreatedV1
from knowrithm_common.tasks import TaskStatus, create_task, update_task
from knowrithm_conversations.chat.follow import Follower
from knowrithm_conversations.models import Conversation, Message, shared

from .chat_support import final_task, new_conversation, sse_events
from .support import add_agent, admin, agent_snapshot, apply_agent_event, member

FACT = "The night shift loads refrigerated trucks at dock 7 after midnight."
QUESTION = "When are refrigerated trucks loaded at dock 7?"
DOCK = "The loading dock opens at six."


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

    task = await final_task(call, alice, accepted)
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

    task = await final_task(call, alice, accepted)
    assert task["status"] == "failed" and task["error"] == "Searching the agent's knowledge failed; please ask again"
    assert task["result"] == {"conversation_id": conversation_id, "message_id": accepted["assistant_message_id"],
                              "error_code": "retrieval_failed"}


async def test_chat_with_an_agent_without_llm_settings_is_409_agent_not_configured(client, call):
    # The one common error of this fact (issue 14: it was 409 here and 404 in ingestion).
    snapshot = agent_snapshot().model_copy(update={"configuration": None})
    envelope = new_event(AgentCreatedV1(**snapshot.model_dump()), source="agents", company_id=snapshot.company_id)
    async with client.app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, envelope)
    alice = member(snapshot.company_id)
    conversation_id = await new_conversation(call, alice, snapshot.agent_id)
    r = await ask(call, alice, conversation_id)
    assert (r.status_code, r.json()["error"]) == (409, "agent_not_configured"), r.text


async def test_chat_task_belongs_to_the_company_of_the_conversation(call, trained):
    alice, agent_id, _ = trained
    conversation_id = await new_conversation(call, alice, agent_id)
    accepted = (await ask(call, alice, conversation_id)).json()
    r = await call("GET", f"/api/v1/tasks/{accepted['task_id']}/status", admin(uuid.uuid4()))
    assert r.status_code == 404


async def test_unfinished_chat_tasks_tell_pollers_to_come_back_within_a_quarter_second(client, call):
    company_id = uuid.uuid4()
    async with client.app.state.db.sessions() as session, session.begin():
        chat = await create_task(session, shared.tasks, company_id=company_id, kind="chat")
        other = await create_task(session, shared.tasks, company_id=company_id, kind="reindex")
    owner = admin(company_id)
    assert (await call("GET", f"/api/v1/tasks/{chat}/status", owner)).json()["poll_after_ms"] == 250
    assert (await call("GET", f"/api/v1/tasks/{other}/status", owner)).json()["poll_after_ms"] == 1000
    async with client.app.state.db.sessions() as session, session.begin():
        await update_task(session, shared.tasks, chat, status=TaskStatus.RUNNING)
    assert (await call("GET", f"/api/v1/tasks/{chat}/status", owner)).json()["poll_after_ms"] == 250
    async with client.app.state.db.sessions() as session, session.begin():
        await session.execute(update(shared.tasks).where(shared.tasks.c.id == chat).values(status="completed"))
    assert (await call("GET", f"/api/v1/tasks/{chat}/status", owner)).json()["poll_after_ms"] is None


async def test_waiting_chat_answers_the_final_message_with_the_task_named(call, trained):
    alice, agent_id, _ = trained
    conversation_id = await new_conversation(call, alice, agent_id)
    r = await ask(call, alice, conversation_id, params={"wait": "true"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed" and "after midnight" in body["message"]["content"]
    assert body["status_url"] == f"/api/v1/tasks/{body['task_id']}/status"
    task = await final_task(call, alice, body)
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


# -- joining one answer's stream late -------------------------------------------------------
class RegisteredTurn:
    """A turn as the answerer registers it: its tokens so far and its attempt."""

    def __init__(self, tokens: list[str], attempt: int = 1) -> None:
        self.text, self.attempt = tokens, attempt


@pytest.fixture
async def conversation(client, call, knowledge):
    company_id, agent_id = await add_agent(client.app)
    knowledge.passages[agent_id] = [DOCK]
    alice = member(company_id)
    return alice, await new_conversation(call, alice, agent_id)


async def stored_turn(app, conversation_id: str, *, status: str) -> uuid.UUID:
    """A question and its answer (in `status`), as the chat route and the answerer store them."""
    conversation_id_ = uuid.UUID(conversation_id)
    async with app.state.db.sessions() as session, session.begin():
        conversation = await session.get(Conversation, conversation_id_)
        common = {"conversation_id": conversation_id_, "company_id": conversation.company_id,
                  "agent_id": conversation.agent_id}
        question = Message(id=uuid.uuid4(), role="user", content="When does the dock open?", **common)
        answer = Message(id=uuid.uuid4(), role="assistant", content="", status=status, reply_to=question.id,
                         **common)
        session.add_all([question, answer])
    return answer.id


async def open_stream(client, call, principal, conversation_id: str, answer_id) -> asyncio.Task:
    """Start reading the answer's stream; returns once the stream listens (its request runs on)."""
    hub, listening = client.app.state.chat.hub, asyncio.Event()

    def listen(conversation_id_):  # the hub's own, telling this test when the stream registers
        listener = type(hub).listen(hub, conversation_id_)
        listening.set()
        return listener

    hub.listen = listen
    path = f"/api/v1/conversation/{conversation_id}/messages/stream"
    reading = asyncio.create_task(call("GET", path, principal, params={"message_id": str(answer_id)}))
    try:
        started = asyncio.create_task(listening.wait())
        await asyncio.wait({started, reading}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        assert listening.is_set(), "the stream never started listening"
    finally:
        del hub.listen
    return reading


def publisher(client, conversation_id: str, answer_id):
    hub = client.app.state.chat.hub

    async def publish(event: str, **data) -> None:
        await hub.publish(uuid.UUID(conversation_id), event, {"message_id": str(answer_id), **data})

    return publish


def completed(conversation_id: str, answer_id, content: str) -> dict:
    return {"conversation_id": conversation_id, "message": {"id": str(answer_id), "content": content}}


async def ended(reading: asyncio.Task) -> list[tuple[str, dict]]:
    response = await asyncio.wait_for(reading, 15)  # the stream ends by itself after the final event
    assert response.status_code == 200, response.text
    return sse_events(response.text)


async def test_late_joiner_of_a_finished_answer_gets_its_content_then_completed(client, call, conversation):
    alice, conversation_id = conversation
    r = await call("POST", f"/api/v1/conversation/{conversation_id}/chat", alice,
                   json={"message": "When does the loading dock open?"})
    accepted = r.json()
    task = await final_task(call, alice, accepted)
    path = accepted["stream_url"].removeprefix("http://service")

    response = await call("GET", path, alice)
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["ready", "token", "completed"]
    assert events[1][1] == {"message_id": accepted["assistant_message_id"], "text": task["result"]["content"],
                            "catch_up": True}
    assert events[2][1]["message"]["content"] == task["result"]["content"] and "six" in task["result"]["content"]


async def test_late_joiner_of_a_failed_answer_gets_the_failure(client, call, conversation, knowledge):
    alice, conversation_id = conversation
    knowledge.broken.add(uuid.UUID((await call("GET", f"/api/v1/conversation/{conversation_id}", alice))
                                   .json()["conversation"]["agent_id"]))
    accepted = (await call("POST", f"/api/v1/conversation/{conversation_id}/chat", alice,
                           json={"message": "When?"})).json()
    await final_task(call, alice, accepted)

    response = await call("GET", accepted["stream_url"].removeprefix("http://service"), alice)
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["ready", "failed"]
    assert events[1][1]["error"] == "retrieval_failed" and "please ask again" in events[1][1]["message"]


async def test_joiner_mid_answer_gets_the_text_so_far_then_each_later_token_once(client, call, conversation):
    alice, conversation_id = conversation
    answer_id = await stored_turn(client.app, conversation_id, status="streaming")
    inflight = client.app.state.chat.inflight
    inflight.add(answer_id, RegisteredTurn(["The ", "dock ", "opens "]))
    try:
        reading = await open_stream(client, call, alice, conversation_id, answer_id)
        publish = publisher(client, conversation_id, answer_id)
        await publish("started", attempt=1)  # the start the text so far already covers
        for seq, text in enumerate(["The ", "dock ", "opens ", "at ", "six."]):
            await publish("token", text=text, seq=seq)  # the first three were in flight as it joined
        await client.app.state.chat.hub.publish(uuid.UUID(conversation_id), "completed",
                                                completed(conversation_id, answer_id, "The dock opens at six."))
        events = await ended(reading)
    finally:
        inflight.remove(answer_id)
    assert [name for name, _ in events] == ["ready", "token", "token", "token", "completed"]
    assert events[1][1]["text"] == "The dock opens " and events[1][1]["catch_up"] is True
    assert [data["seq"] for _, data in events[2:4]] == [3, 4]
    assert "".join(data["text"] for name, data in events if name == "token") == "The dock opens at six."


async def test_joiner_before_the_answer_starts_gets_every_event_live(client, call, conversation):
    alice, conversation_id = conversation
    answer_id = await stored_turn(client.app, conversation_id, status="pending")
    other_id = await stored_turn(client.app, conversation_id, status="pending")
    reading = await open_stream(client, call, alice, conversation_id, answer_id)
    publish, other = publisher(client, conversation_id, answer_id), publisher(client, conversation_id, other_id)
    await publish("started", attempt=1)
    await other("token", text="another answer's token", seq=0)  # same conversation, not this answer
    await publish("token", text="At ", seq=0)
    await publish("token", text="six.", seq=1)
    await publish("failed", error="llm_timeout", message="The model took too long; please ask again",
                  content="At six.")
    events = await ended(reading)
    assert [name for name, _ in events] == ["ready", "started", "token", "token", "failed"]
    assert "".join(data["text"] for name, data in events if name == "token") == "At six."


async def test_joiner_of_an_answer_no_replica_holds_gets_its_final_text(client, call, conversation, monkeypatch):
    alice, conversation_id = conversation
    monkeypatch.setattr(client.app.state.settings, "catch_up_timeout_seconds", 0.2)
    answer_id = await stored_turn(client.app, conversation_id, status="streaming")  # its replica died
    reading = await open_stream(client, call, alice, conversation_id, answer_id)
    publish = publisher(client, conversation_id, answer_id)
    await publish("token", text="opens at six.", seq=2)  # text before it is unknown here: held back
    await client.app.state.chat.hub.publish(uuid.UUID(conversation_id), "completed",
                                            completed(conversation_id, answer_id, "The dock opens at six."))
    events = await ended(reading)
    assert [name for name, _ in events] == ["ready", "token", "completed"]
    assert events[1][1] == {"message_id": str(answer_id), "text": "The dock opens at six.", "catch_up": True}


async def test_stream_of_an_answer_not_in_the_conversation_is_404(client, call, conversation):
    alice, conversation_id = conversation
    _, other_conversation = await conversation_of_another_agent(client, call, alice)
    foreign = await stored_turn(client.app, other_conversation, status="pending")
    path = f"/api/v1/conversation/{conversation_id}/messages/stream"
    async with client.app.state.db.sessions() as session:
        question = (await session.get(Message, foreign)).reply_to
    for message_id in (uuid.uuid4(), foreign, question):
        r = await call("GET", path, alice, params={"message_id": str(message_id)})
        assert r.status_code == 404 and r.json()["error"] == "message_not_found", r.text


async def conversation_of_another_agent(client, call, principal):
    _, agent_id = await add_agent(client.app, principal.company_id)
    return agent_id, await new_conversation(call, principal, agent_id)


# -- the follower alone: which live events a stream passes on ---------------------------------
def token(seq: int, text: str = "x", answer: str = "a") -> dict:
    return {"event": "token", "data": {"message_id": answer, "text": text, "seq": seq}}


def started(attempt: int, answer: str = "a") -> dict:
    return {"event": "started", "data": {"message_id": answer, "attempt": attempt}}


def test_follower_passes_a_restarted_answer_from_its_new_start():
    follower = Follower("a", next_seq=3, attempt=1)
    assert follower.accept(token(3)) and not follower.accept(token(2))
    assert follower.accept(started(1)) == []  # the attempt it already follows
    assert follower.accept(started(2)) == [("started", started(2)["data"])]  # redelivered: text restarts
    assert follower.accept(token(0, "again"))[0][1]["text"] == "again"


def test_follower_out_of_step_waits_for_a_start_and_ignores_other_answers():
    follower = Follower("a", next_seq=None)
    assert follower.accept(token(4)) == [] and follower.accept(token(0, answer="b")) == []
    assert follower.accept(started(1)) and follower.accept(token(0))
    final = {"event": "completed", "data": {"message": {"id": "a", "content": "x"}}}
    assert follower.accept(final) == [("completed", final["data"])] and follower.done
    assert follower.accept(token(1)) == []
