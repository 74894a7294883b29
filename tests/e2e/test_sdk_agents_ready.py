"""A new company's first steps with the official SDK, written as an SDK user would: create an agent
on the built-in offline provider (no super admin step, no company settings first), then use it
at once in ingestion and conversations. The 201 from the agents service is enough: the other
services' projections may not have the agent's event yet, and must ask the agents service
rather than answer 404 (docs/architecture.md, "Read-your-writes across services")."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .sdk import SdkTenant, new_tenant, sdk_client

pytestmark = pytest.mark.e2e

OFFLINE = {"llm_provider": "offline", "llm_model": "extractive-responder",
           "embedding_provider": "offline", "embedding_model": "offline-embedder"}
ROUNDS, CLIENTS = 50, 5


def rounds(gateway_url: str, tenant: SdkTenant, notes: Path, numbers: range) -> None:
    """Create an agent, then at once upload to it and start a conversation with it, round after round."""
    sdk = sdk_client(gateway_url, tenant.api_key, tenant.api_secret)  # one per thread, defaults
    tag = uuid.uuid4().hex[:6]
    for n in numbers:
        agent = sdk.agents.create_agent_with_provider_names({"name": f"Ready {tag} {n}"}, settings=OFFLINE)
        # Even rounds upload first, odd rounds talk first: each comes right after the 201 half the time.
        for step in ("upload", "talk") if n % 2 == 0 else ("talk", "upload"):
            if step == "upload":
                # The SDK follows the upload's task: the document is embedded with the agent's model.
                uploaded = sdk.documents.upload_documents(agent["id"], file_paths=[notes])
                assert uploaded["documents_processed"] == 1, uploaded
            else:
                conversation = sdk.conversations.create_conversation(agent["id"], title="First words")
                assert conversation["conversation"]["agent_id"] == agent["id"], conversation


def test_a_new_agent_takes_a_document_and_a_conversation_at_once_50_times(platform, tmp_path):
    # 50 rounds, ten in a row on each of five clients at once: the SDK waits out each upload's
    # processing (its task), five clients overlap those waits and keep the projections busy.
    tenant = new_tenant(platform.gateway_url)
    notes = tmp_path / "returns.txt"
    notes.write_text("Returns are accepted within 30 days with the receipt.")
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        share = ROUNDS // CLIENTS
        runs = [pool.submit(rounds, platform.gateway_url, tenant, notes, range(i * share, (i + 1) * share))
                for i in range(CLIENTS)]
        for run in runs:
            run.result()  # a 404 (KnowrithmAPIError) in any round fails the test here
    assert time.monotonic() - started < 60
