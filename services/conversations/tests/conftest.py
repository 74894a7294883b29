"""Conversations tests: the real API app on its own migrated database, with the embedded NATS
and Redis; agents appear through the same events the agents service publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from knowrithm_common.crypto import generate_key
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.testing import (
    KeyPair,
    agents_stand_in,
    assertion_headers,
    environment,
    running_app,
    service_env,
)

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


@pytest.fixture(scope="module")
async def client(conversations_env) -> AsyncIterator[httpx.AsyncClient]:
    """The app, running for one test module (tests keep apart by using companies of their own):
    starting and stopping its consumers for every test would cost seconds each."""
    from knowrithm_conversations.main import create_app

    with environment(conversations_env):
        app = create_app()
    # The agents service's state query answers beside the app: "no such agent" unless told.
    async with running_app(app) as c, agents_stand_in(app.state.nats) as owner:
        c.app, c.agents_owner = app, owner  # type: ignore[attr-defined]
        yield c


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

    async def _call(method, path, principal=None, headers=None, **kw):
        headers = {**assertion_headers(signer, principal), **(headers or {})}
        return await client.request(method, path, headers=headers, **kw)

    return _call
