"""Agents tests: the real app on its own migrated database, embedded NATS and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from knowrithm_common.crypto import generate_key
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.testing import KeyPair, assertion_headers, environment, running_app, service_env

ASSERTION_KEYS = KeyPair.generate()


@pytest.fixture(scope="session")
def agents_env(stack) -> dict[str, str]:
    url = stack.create_database("agents_service_tests")
    upgrade(package="knowrithm_agents", schema="agents", url=url)
    return service_env(database_url=url, nats_url=stack.nats_url, redis_url=stack.redis_url,
                       assertion=ASSERTION_KEYS,
                       extra={"ENCRYPTION_KEY": generate_key(), "AGENTS_PROVIDER_TIMEOUT_SECONDS": "2"})


@pytest.fixture
async def client(agents_env) -> AsyncIterator[httpx.AsyncClient]:
    from knowrithm_agents.main import create_app

    with environment(agents_env):
        app = create_app()
    async with running_app(app) as c:
        c.app = app  # type: ignore[attr-defined]
        yield c


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
