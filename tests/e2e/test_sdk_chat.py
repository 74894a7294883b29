"""Conversations, chat and the widget through the official Knowrithm SDK (default configuration).

One company, one offline agent trained on one PDF whose page 2 holds a distinctive fact, set up
once for the module. `messages.send_message` resolves the chat task into the answer (fact and
citation); `stream=True` opens the answer's stream after the chat request returned and still
gets every token, then the final message, and the stream ends by itself; a client that joins
the 202's `stream_url` to the host gets the same. The agent test, the widget test page and
script, the health alias, and the conversation and message services work as documented.
SDK defects found on the way are listed in docs/sdk.md.
"""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urljoin

import httpx
import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from knowrithm_ingestion.testing import samples

from .sdk import SdkTenant, new_tenant

pytestmark = pytest.mark.e2e

FILLER = "This handbook describes the daily routines of the warehouse team in general terms."


class Trained:
    """The module's tenant, agent and document, and the fact's tag."""

    def __init__(self, tenant: SdkTenant, agent_id: str, document_id: str, tag: str) -> None:
        self.tenant, self.agent_id, self.document_id, self.tag = tenant, agent_id, document_id, tag

    @property
    def question(self) -> str:
        return f"When are refrigerated trucks loaded at dock {self.tag}?"

    def conversation(self, title: str = "SDK chat") -> str:
        created = self.tenant.client.conversations.create_conversation(self.agent_id, title=title)
        return str(created["conversation"]["id"])


def _offline_settings(http: httpx.Client, tenant: SdkTenant) -> None:
    providers = http.get("/api/v1/providers?include_models=true", headers=tenant.bearer).json()["providers"]
    (offline,) = [p for p in providers if p["value"] == "offline"]
    models = {m["name"]: m["id"] for m in offline["models"]}
    body = {"llm_provider_id": offline["id"], "llm_model_id": models["extractive-responder"],
            "embedding_provider_id": offline["id"], "embedding_model_id": models["offline-embedder"],
            "is_default": True}
    r = http.post("/api/v1/settings", json=body, headers=tenant.bearer)
    assert r.status_code == 201, r.text


def _until(check, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout}s")


@pytest.fixture(scope="module")
def trained(platform) -> Trained:
    tenant = new_tenant(platform.gateway_url)
    tag = uuid.uuid4().hex[:6]
    fact = f"The night shift loads refrigerated trucks at dock {tag} after midnight."
    with httpx.Client(base_url=platform.gateway_url, timeout=60) as http:
        _offline_settings(http, tenant)
        r = http.post("/api/v1/agent", json={"name": f"Dock desk {tag}"}, headers=tenant.bearer)
        assert r.status_code == 201, r.text
        agent_id = r.json()["id"]
        pdf = samples.make_pdf([FILLER, fact, FILLER])
        r = http.post("/api/v1/document/upload", data={"agent_id": agent_id}, headers=tenant.bearer,
                      files=[("files", ("handbook.pdf", pdf, "application/pdf"))])
        assert r.status_code in (200, 201, 202), r.text
        document_id = r.json()["documents"][0]["id"]

        def final_status() -> str | None:
            status = http.get(f"/api/v1/document/{document_id}", headers=tenant.bearer).json()["status"]
            return status if status in ("processed", "failed") else None

        assert _until(final_status, timeout=180, what="processing the document") == "processed"
    return Trained(tenant, agent_id, document_id, tag)


def _cites_the_fact(message: dict, trained: Trained) -> None:
    assert "after midnight" in message["content"] and f"dock {trained.tag}" in message["content"], message
    citation = message["citations"][0]
    assert (citation["document_id"], citation["document_name"], citation["page"]) == (
        trained.document_id, "handbook.pdf", 2)


def test_send_message_returns_the_answer_with_the_fact_and_its_citation(trained):
    conversation_id = trained.conversation()
    answer = trained.tenant.client.messages.send_message(conversation_id, trained.question)
    assert answer["role"] == "assistant" and answer["status"] == "complete" and answer["conversation_id"] == conversation_id
    _cites_the_fact(answer, trained)


def test_send_message_streaming_yields_tokens_then_the_final_message_and_ends(trained):
    conversation_id = trained.conversation()
    stream = trained.tenant.client.messages.send_message(conversation_id, trained.question, stream=True)
    assert stream.task_id and stream.stream_url.endswith(f"message_id={stream.metadata['assistant_message_id']}")
    events = list(stream)  # the stream ends by itself after the answer's final event
    names = [event.event for event in events]
    assert names[0] == "ready" and names[-1] == "completed" and "token" in names, names
    final = events[-1].data["message"]
    assert "".join(e.data["text"] for e in events if e.event == "token").strip() == final["content"]
    _cites_the_fact(final, trained)


def _sse(lines) -> list[tuple[str, str]]:
    """(event, data) pairs of SSE lines."""
    events, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name:
            events.append((name, line[6:]))
    return events


def test_a_client_joining_stream_url_to_the_host_gets_the_same_answer(trained, platform):
    tenant = trained.tenant
    keys = {"X-API-Key": tenant.api_key, "X-API-Secret": tenant.api_secret}
    conversation_id = trained.conversation()
    with httpx.Client(base_url=platform.gateway_url, headers=keys, timeout=30) as http:
        r = http.post(f"/api/v1/conversation/{conversation_id}/chat", json={"message": trained.question})
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["stream_url"].startswith(platform.gateway_url)  # BASE_URL: the gateway
        with http.stream("GET", urljoin(platform.gateway_url, accepted["stream_url"])) as response:
            assert response.status_code == 200
            events = [(name, json.loads(data)) for name, data in _sse(response.iter_lines())]
        task = http.get(accepted["status_url"]).json()
    assert events[0][0] == "ready" and events[-1][0] == "completed"
    text = "".join(data["text"] for name, data in events if name == "token")
    assert text.strip() == events[-1][1]["message"]["content"] == task["result"]["content"]
    _cites_the_fact(task["result"], trained)


def test_agent_test_resolves_into_the_answer_and_works_without_a_query(trained):
    agents = trained.tenant.client.agents
    report = agents.test_agent(trained.agent_id, query=trained.question)
    assert "after midnight" in report["answer"] and report["citations"][0]["page"] == 2
    assert report["latency_ms"] > 0
    sample = agents.test_agent(trained.agent_id)  # the contract's body is optional
    assert sample["answer"] and sample["message_id"] != report["message_id"]


def test_widget_calls_of_the_sdk_work(trained, platform):
    client = trained.tenant.client
    page = client.agents.render_test_page("<p id='landing'>Our landing page</p>")  # no agent named
    assert page["agent_id"] == trained.agent_id and "<p id='landing'>Our landing page</p>" in page["html"]
    assert f'src="{platform.gateway_url}/widget.js"' in page["html"]
    assert httpx.get(urljoin(platform.gateway_url, page["url"])).text == page["html"]
    script = client.agents.fetch_widget_script()
    assert "data-agent-id" in script and "/api/v1/lead/register" in script
    try:
        health = client.analytics.health_check()  # GET /api/v1/health: the gateway's /health
    except KnowrithmAPIError as exc:  # 503 while a service is slow to answer its probe
        assert exc.status_code == 503, exc
        health = exc.response_data
    assert health["status"] in ("healthy", "degraded") and "conversations" in health["services"]


def test_conversation_service_lists_deletes_and_restores(trained):
    client, user_id = trained.tenant.client, trained.tenant.user["id"]
    conversations = client.conversations
    conversation_id = trained.conversation(title="Kept")
    client.messages.send_message(conversation_id, trained.question)

    def listed(page: dict, key: str = "conversations") -> set[str]:
        return {c["id"] for c in page[key]}

    assert conversation_id in listed(conversations.list_conversations(per_page=100))
    assert conversation_id in listed(conversations.list_conversations_for_entity(per_page=100))
    assert conversation_id in listed(conversations.list_conversations_by_entity(user_id, entity_type="user"))
    assert conversation_id in listed(conversations.list_conversations_by_agent(trained.agent_id, per_page=100))
    messages = conversations.list_conversation_messages(conversation_id)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]

    assert conversations.delete_conversation_messages(conversation_id)["deleted_messages_count"] == 2
    assert conversations.list_conversation_messages(conversation_id)["messages"] == []
    assert conversations.restore_all_messages(conversation_id)["restored_messages_count"] == 2
    assert len(conversations.list_conversation_messages(conversation_id)["messages"]) == 2

    conversations.delete_conversation(conversation_id)
    assert conversation_id in listed(conversations.list_deleted_conversations(), "deleted_conversations")
    assert conversation_id not in listed(conversations.list_conversations(per_page=100))
    conversations.restore_conversation(conversation_id)
    assert conversation_id in listed(conversations.list_conversations(per_page=100))


def test_message_service_deletes_lists_and_restores_a_message(trained):
    client = trained.tenant.client
    conversation_id = trained.conversation(title="Messages")
    answer = client.messages.send_message(conversation_id, trained.question)
    client.messages.delete_message(answer["id"])
    assert answer["id"] in {m["id"] for m in client.messages.list_deleted_messages()["deleted_messages"]}
    assert [m["role"] for m in client.conversations.list_conversation_messages(conversation_id)["messages"]] == [
        "user"]
    client.messages.restore_message(answer["id"])
    assert answer["id"] not in {m["id"] for m in client.messages.list_deleted_messages()["deleted_messages"]}
