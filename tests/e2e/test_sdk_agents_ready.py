"""A new company's first steps with the official SDK, written as an SDK user would: create an agent
on the built-in offline provider (no super admin step, no company settings first), then use it
at once in ingestion and conversations. The 201 from the agents service is enough: the other
services' projections may not have the agent's event yet, and must ask the agents service
rather than answer 404 (docs/architecture.md, "Read-your-writes")."""

from __future__ import annotations

import time
import uuid

import pytest

from .sdk import new_tenant

pytestmark = pytest.mark.e2e

OFFLINE = {"llm_provider": "offline", "llm_model": "extractive-responder",
           "embedding_provider": "offline", "embedding_model": "offline-embedder"}
ROUNDS = 50


def test_a_new_agent_takes_a_document_and_a_conversation_at_once_50_times_in_a_row(platform, tmp_path):
    tenant = new_tenant(platform.gateway_url)
    sdk = tenant.client
    notes = tmp_path / "returns.txt"
    notes.write_text("Returns are accepted within 30 days with the receipt.")
    tag = uuid.uuid4().hex[:6]
    started = time.monotonic()
    for n in range(ROUNDS):
        agent = sdk.agents.create_agent_with_provider_names({"name": f"Ready {tag} {n}"}, settings=OFFLINE)
        # Even rounds upload first, odd rounds talk first: each comes right after the 201 half the time.
        steps = ("upload", "talk") if n % 2 == 0 else ("talk", "upload")
        for step in steps:
            if step == "upload":
                uploaded = sdk.documents.upload_documents(agent["id"], file_paths=[notes])
                assert uploaded["status"] == "accepted" and len(uploaded["documents"]) == 1, uploaded
            else:
                conversation = sdk.conversations.create_conversation(agent["id"], title="First words")
                assert conversation["conversation"]["agent_id"] == agent["id"], conversation
    # Seconds, not a wait for events: nothing above polls or retries.
    assert time.monotonic() - started < 60
