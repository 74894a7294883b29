"""The chat widget's routes on the real conversations app (PostgreSQL, NATS and Redis from the
embedded stack): the script, an agent's public widget settings, test pages, and the agent test.

The agent test's answer comes from the chat pipeline, which needs ingestion: the end-to-end
test (tests/e2e/test_widget_browser.py) follows a real answer into the task. Here the task's
outcome is written the way the pipeline writes it when an answer becomes final.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from knowrithm_common.events import new_event
from knowrithm_common.events.agents import AgentCreatedV1, AgentDeletedV1
from knowrithm_conversations.models import Message

from .support import add_agent, admin, apply_agent_event, lead, member

SECRET = "sk-do-not-leak-0123456789"


async def add_widget_agent(app, *, status: str = "active", widget_config: dict | None = None,
                           avatar_url: str | None = "https://cdn.example.com/bot.png") -> tuple[uuid.UUID, uuid.UUID]:
    """An agent with widget settings (and secrets it must never show), as agents announces it."""
    company_id, agent_id = uuid.uuid4(), uuid.uuid4()
    data = AgentCreatedV1(
        agent_id=agent_id, company_id=company_id, name="Helpdesk", status=status, avatar_url=avatar_url,
        description="Internal: escalate to Bob", personality_traits={"instructions": SECRET},
        widget_config=widget_config if widget_config is not None else {},
    )
    async with app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, new_event(data, source="agents", company_id=company_id))
    return company_id, agent_id


@pytest.mark.parametrize("path", ["/widget.js", "/api/v1/widget.js"])  # the SDK asks under /api/v1
async def test_widget_script_is_served_as_cacheable_javascript(call, path):
    r = await call("GET", path)  # anonymous, as the gateway forwards a browser's request
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/javascript"
    assert "max-age=" in r.headers["cache-control"] and r.headers["x-content-type-options"] == "nosniff"
    assert "data-agent-id" in r.text and "/api/v1/lead/register" in r.text
    assert ".innerHTML" not in r.text  # every text the widget shows goes through textContent
    again = await call("GET", path, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_widget_settings_show_the_agents_face_and_nothing_secret(client, call):
    config = {"primary_color": "#0f766e", "text_color": "#fff", "position": "left", "title": "Ask Helpdesk",
              "greeting": "Hello! Ask me about our handbook.", "lead_capture": False,
              "allowed_origins": ["https://shop.example.com"], "api_key": SECRET}
    _, agent_id = await add_widget_agent(client.app, widget_config=config)
    r = await call("GET", f"/api/v1/widget/agent/{agent_id}")  # anonymous, as a visitor's browser
    assert r.status_code == 200, r.text
    assert r.json() == {
        "agent_id": str(agent_id), "name": "Helpdesk", "avatar_url": "https://cdn.example.com/bot.png",
        "title": "Ask Helpdesk", "greeting": "Hello! Ask me about our handbook.", "lead_capture": False,
        "theme": {"primary_color": "#0f766e", "text_color": "#fff", "position": "left"},
    }
    assert SECRET not in r.text and "escalate" not in r.text and "shop.example.com" not in r.text
    assert "max-age" in r.headers["cache-control"]


async def test_widget_settings_fall_back_to_defaults_for_missing_or_odd_values(client, call):
    config = {"theme": {"primary_color": "red;background:url(https://evil.example)", "position": "top"},
              "lead_capture": "no", "title": "  "}
    _, agent_id = await add_widget_agent(client.app, widget_config=config, avatar_url="javascript:alert(1)")
    body = (await call("GET", f"/api/v1/widget/agent/{agent_id}")).json()
    assert body["theme"] == {"primary_color": "#2563eb", "text_color": "#ffffff", "position": "right"}
    assert body["lead_capture"] is True and body["title"] == "Helpdesk" and body["greeting"] is None
    assert body["avatar_url"] is None


async def test_unknown_inactive_or_deleted_agents_have_no_widget(client, call):
    _, inactive = await add_widget_agent(client.app, status="inactive")
    company_id, deleted = await add_widget_agent(client.app)
    gone = AgentDeletedV1(agent_id=deleted, company_id=company_id, name="Helpdesk", status="active")
    async with client.app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, new_event(gone, source="agents", company_id=company_id))
    for agent_id in (uuid.uuid4(), inactive, deleted):
        r = await call("GET", f"/api/v1/widget/agent/{agent_id}")
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "agent_not_found" and "not available" in r.json()["message"]


async def test_test_page_embeds_the_widget_with_the_agents_embed_code_and_the_callers_html(client, call):
    company_id, agent_id = await add_agent(client.app, name="Docs <bot>")
    body = '<section id="hero"><h2>Spring sale</h2><script>window.hostReady = true;</script></section>'
    r = await call("POST", "/api/v1/test", admin(company_id), json={"agent_id": str(agent_id), "body": body})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["url"].startswith("/api/v1/test/page/") and created["expires_at"]
    assert created["agent_id"] == str(agent_id)

    page = await call("GET", created["url"])  # anyone with the link, no credentials
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # BASE_URL is unset here: the embed code points at the origin the page was asked at
    snippet = f'<script src="http://service/widget.js" data-agent-id="{agent_id}" async></script>'
    assert snippet in page.text and body in page.text
    assert "Docs &lt;bot&gt;" in page.text and "Docs <bot>" not in page.text
    assert page.text == created["html"]
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"


async def test_test_page_embeds_base_url_when_it_is_set_and_the_origin_asked_at_otherwise(client, call, monkeypatch):
    company_id, agent_id = await add_agent(client.app)
    created = (await call("POST", "/api/v1/test", admin(company_id), json={"agent_id": str(agent_id)})).json()
    proxied = {"X-Forwarded-Host": "widgets.example.com", "X-Forwarded-Proto": "https"}
    page = await call("GET", created["url"], headers=proxied)
    assert 'src="https://widgets.example.com/widget.js"' in page.text
    monkeypatch.setattr(client.app.state.settings, "base_url", "https://api.example.com")
    page = await call("GET", created["url"], headers=proxied)
    assert 'src="https://api.example.com/widget.js"' in page.text


async def test_test_page_without_an_agent_embeds_the_active_agent_changed_last(client, call):
    company_id, older = await add_agent(client.app, name="Older")
    _, newer = await add_agent(client.app, company_id, name="Newer")
    await add_agent(client.app, company_id, status="inactive", name="Paused")  # changed last, not active
    body = "<p>Only the body, as the SDK's render_test_page sends it</p>"
    r = await call("POST", "/api/v1/test", admin(company_id), json={"body": body})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["agent_id"] == str(newer) and body in created["html"] and "Newer" in created["html"]
    assert str(older) not in created["html"]


async def test_test_page_without_an_agent_is_404_when_the_company_has_no_active_one(client, call):
    company_id, _ = await add_agent(client.app, status="inactive")
    r = await call("POST", "/api/v1/test", admin(company_id), json={"body": "<p>hi</p>"})
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"
    assert "no active agent" in r.json()["message"]
    r = await call("POST", "/api/v1/test", admin(uuid.uuid4()), json={})
    assert r.status_code == 404 and "no active agent" in r.json()["message"]


async def test_test_pages_are_for_admins_of_the_agents_company_and_expire_to_404(client, call):
    company_id, agent_id = await add_agent(client.app)
    r = await call("POST", "/api/v1/test", admin(uuid.uuid4()), json={"agent_id": str(agent_id)})
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"
    r = await call("POST", "/api/v1/test", member(company_id), json={"agent_id": str(agent_id)})
    assert r.status_code == 403
    r = await call("GET", "/api/v1/test/page/not-a-real-token")
    assert r.status_code == 404 and r.json()["error"] == "test_page_not_found"
    assert "create a new one" in r.json()["message"]


async def task_status(call, principal, task_id):
    r = await call("GET", f"/api/v1/tasks/{task_id}/status", principal)
    assert r.status_code == 200, r.text
    return r.json()


async def test_agent_test_queues_the_question_in_a_test_conversation_of_the_caller(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = member(company_id)
    r = await call("POST", f"/api/v1/agent/{agent_id}/test", alice, json={"query": "  Where is dock 7?  "})
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["status"] == "accepted" and accepted["status_url"] == f"/api/v1/tasks/{accepted['task_id']}/status"
    task = await task_status(call, alice, accepted["task_id"])
    assert task["kind"] == "agent_test" and task["status"] in ("pending", "completed", "failed")

    conversation = (await call("GET", f"/api/v1/conversation/{accepted['conversation_id']}", alice)).json()
    assert conversation["conversation"]["entity_id"] == str(alice.user_id)
    assert conversation["conversation"]["metadata"]["test"] is True
    messages = (await call("GET", f"/api/v1/conversation/{accepted['conversation_id']}/messages", alice)).json()
    assert messages["messages"][0]["content"] == "Where is dock 7?"


async def test_agent_test_without_a_body_asks_the_contracts_sample_question(client, call):
    company_id, agent_id = await add_agent(client.app)
    alice = admin(company_id)
    r = await call("POST", f"/api/v1/agent/{agent_id}/test", alice)  # as the SDK's test_agent(agent_id) sends it
    assert r.status_code == 202, r.text
    conversation_id = r.json()["conversation_id"]
    messages = (await call("GET", f"/api/v1/conversation/{conversation_id}/messages", alice)).json()["messages"]
    assert messages[0]["content"] == "Hello, can you introduce yourself?"


async def test_agent_test_task_holds_the_answer_citations_and_latency_once_the_answer_is_final(client, call):
    from knowrithm_conversations.chat.answer_task import finish_answer_task

    company_id, agent_id = await add_agent(client.app)
    alice = admin(company_id)
    accepted = (await call("POST", f"/api/v1/agent/{agent_id}/test", alice, json={"query": "Dock?"})).json()
    citation = {"source_number": 1, "document_name": "handbook.pdf", "page": 2}
    async with client.app.state.db.sessions() as session, session.begin():
        answer = await session.scalar(select(Message).where(Message.id == uuid.UUID(accepted["assistant_message_id"])))
        answer.status, answer.content, answer.citations = "complete", "After midnight [1].", [citation]
        answer.latency_ms, answer.first_token_ms, answer.model_used = 420, 35, "extractive-responder"
        await finish_answer_task(session, answer)  # as the pipeline does when it completes the answer

    task = await task_status(call, alice, accepted["task_id"])
    assert task["status"] == "completed" and task["progress"] == 100
    result = task["result"]
    assert result["answer"] == "After midnight [1]." and result["citations"] == [citation]
    assert result["latency_ms"] == 420 and result["conversation_id"] == accepted["conversation_id"]


async def test_agent_test_task_fails_with_the_answers_reason(client, call):
    from knowrithm_conversations.chat.answer_task import finish_answer_task

    company_id, agent_id = await add_agent(client.app)
    alice = admin(company_id)
    accepted = (await call("POST", f"/api/v1/agent/{agent_id}/test", alice, json={"query": "Dock?"})).json()
    reason = "The agent's knowledge is not reachable right now; please ask again"
    async with client.app.state.db.sessions() as session, session.begin():
        answer = await session.get(Message, uuid.UUID(accepted["assistant_message_id"]))
        answer.status, answer.error_code, answer.error = "failed", "retrieval_unavailable", reason
        await finish_answer_task(session, answer)

    task = await task_status(call, alice, accepted["task_id"])
    assert task["status"] == "failed" and task["error"] == reason
    assert task["result"]["error_code"] == "retrieval_unavailable"


@pytest.mark.parametrize("case", ["lead", "other_company", "too_long", "inactive"])
async def test_agent_test_refuses_what_it_cannot_run_with_a_clear_error(client, call, case):
    company_id, agent_id = await add_agent(client.app, status="inactive" if case == "inactive" else "active")
    visitor = await lead(client.app, company_id) if case == "lead" else None
    caller = {"lead": visitor, "other_company": admin(uuid.uuid4())}.get(case, admin(company_id))
    query = "x" * 5000 if case == "too_long" else "Hello?"
    r = await call("POST", f"/api/v1/agent/{agent_id}/test", caller, json={"query": query})
    expected = {"lead": (403, "forbidden"), "other_company": (404, "agent_not_found"),
                "too_long": (422, "message_too_long"), "inactive": (409, "agent_inactive")}[case]
    assert (r.status_code, r.json()["error"]) == expected, r.text
