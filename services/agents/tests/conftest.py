"""Agents tests: the real app on its own migrated database, embedded NATS and Redis."""

from __future__ import annotations

import pytest

from knowrithm_common.crypto import generate_key
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.testing import KeyPair, gateway_call, service_client, service_env

ASSERTION_KEYS = KeyPair.generate()


@pytest.fixture(scope="session")
def agents_env(stack) -> dict[str, str]:
    url = stack.create_database("agents_service_tests")
    upgrade(package="knowrithm_agents", schema="agents", url=url)
    return service_env(database_url=url, nats_url=stack.nats_url, redis_url=stack.redis_url,
                       assertion=ASSERTION_KEYS,
                       extra={"ENCRYPTION_KEY": generate_key(), "AGENTS_PROVIDER_TIMEOUT_SECONDS": "2"})


client = service_client("knowrithm_agents.main:create_app", env="agents_env")


@pytest.fixture
def signer():
    return ASSERTION_KEYS.signer()


@pytest.fixture
def call(client, signer):
    """call(method, path, principal=None, **kw): a request as the gateway would forward it."""
    return gateway_call(client, signer)
