"""Ingestion tests: the real API app (and worker) on their own migrated database, with the
embedded NATS and Redis; agents appear through the same events the agents service publishes.

The app (and the worker, where a module asks for it) runs once per test module; tests keep
apart by making their own companies and agents (`support.add_agent`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from knowrithm_common.db.migrations import upgrade
from knowrithm_common.testing import KeyPair, environment, gateway_call, service_client, service_env

ASSERTION_KEYS = KeyPair.generate()


@pytest.fixture(scope="session")
def ingestion_env(stack, tmp_path_factory) -> dict[str, str]:
    url = stack.create_database("ingestion_service_tests")
    upgrade(package="knowrithm_ingestion", schema="ingestion", url=url)
    blobs = tmp_path_factory.mktemp("blobs")
    return service_env(
        database_url=url, nats_url=stack.nats_url, redis_url=stack.redis_url, assertion=ASSERTION_KEYS,
        extra={"INGESTION_BLOB_DIR": str(blobs), "INGESTION_VECTOR_STORE": "pgvector",
               "INGESTION_FETCH_ALLOWLIST": "127.0.0.5/32", "INGESTION_JOB_ACK_WAIT_SECONDS": "5",
               "INGESTION_DATABASE_ALLOWLIST": "127.0.0.1/32"},
    )


# The agents service's state query answers beside the app (`client.agents_owner`): "no such agent"
# unless told.
client = service_client("knowrithm_ingestion.main:create_app", env="ingestion_env", agents_owner=True)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def worker(ingestion_env) -> AsyncIterator[object]:
    """The worker app running in this process (consumes the JOBS queue) for the rest of the module."""
    from knowrithm_ingestion.worker import create_app

    with environment(ingestion_env):
        app = create_app()
    async with app.router.lifespan_context(app):
        await app.state.job_worker.wait_subscribed()
        yield app


@pytest.fixture
def signer():
    return ASSERTION_KEYS.signer()


@pytest.fixture
def call(client, signer):
    """call(method, path, principal=None, **kw): a request as the gateway would forward it."""
    return gateway_call(client, signer)
