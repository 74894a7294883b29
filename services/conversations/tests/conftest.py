"""Conversations tests: the real API app on its own migrated database, with the embedded NATS
and Redis; agents appear through the same events the agents service publishes."""

from __future__ import annotations

import pytest

from knowrithm_common.crypto import generate_key
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.testing import KeyPair, gateway_call, service_client, service_env

ASSERTION_KEYS = KeyPair.generate()
LEAD_KEYS = KeyPair.generate()


@pytest.fixture(scope="session")
def conversations_env(stack) -> dict[str, str]:
    url = stack.create_database("conversations_service_tests")
    upgrade(package="knowrithm_conversations", schema="conversations", url=url)
    # Leads' secrets: their email and phone are encrypted, their tokens signed (refused when unset).
    secrets = {"ENCRYPTION_KEY": generate_key(), "KNOWRITHM_LEAD_TOKEN_PRIVATE_KEY": LEAD_KEYS.private_pem}
    return service_env(database_url=url, nats_url=stack.nats_url, redis_url=stack.redis_url,
                       assertion=ASSERTION_KEYS, extra=secrets)


# The app for one test module (tests keep apart by using companies of their own); the agents
# service's state query answers beside it (`client.agents_owner`): "no such agent" unless told.
client = service_client("knowrithm_conversations.main:create_app", env="conversations_env", agents_owner=True)


@pytest.fixture(scope="module")
async def knowledge(client):
    """Ingestion's search, stood in for on the real NATS while a module's app runs (chat_support.py)."""
    from .chat_support import KnowledgeStandIn

    stand_in = KnowledgeStandIn(client.app.state.nats)
    await stand_in.responder.start()
    yield stand_in
    await stand_in.responder.stop()


@pytest.fixture
def signer():
    return ASSERTION_KEYS.signer()


@pytest.fixture
def call(client, signer):
    """call(method, path, principal=None, **kw): a request as the gateway would forward it."""
    return gateway_call(client, signer)
