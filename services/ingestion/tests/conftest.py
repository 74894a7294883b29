"""Ingestion tests: the real API app (and worker) on their own migrated database, with the
embedded NATS and Redis; agents appear through the same events the agents service publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

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


@pytest.fixture(scope="session")
def ingestion_env(stack, tmp_path_factory) -> dict[str, str]:
    url = stack.create_database("ingestion_service_tests")
    upgrade(package="knowrithm_ingestion", schema="ingestion", url=url)
    blobs = tmp_path_factory.mktemp("blobs")
    return service_env(
        database_url=url, nats_url=stack.nats_url, redis_url=stack.redis_url, assertion=ASSERTION_KEYS,
        extra={"INGESTION_BLOB_DIR": str(blobs), "INGESTION_VECTOR_STORE": "pgvector",
               "INGESTION_FETCH_ALLOWLIST": "127.0.0.5/32", "INGESTION_JOB_ACK_WAIT_SECONDS": "5"},
    )


@pytest.fixture
async def client(ingestion_env) -> AsyncIterator[httpx.AsyncClient]:
    from knowrithm_ingestion.main import create_app

    with environment(ingestion_env):
        app = create_app()
    # The agents service's state query answers beside the app: "no such agent" unless told.
    async with running_app(app) as c, agents_stand_in(app.state.nats) as owner:
        c.app, c.agents_owner = app, owner  # type: ignore[attr-defined]
        yield c


@pytest.fixture
async def worker(ingestion_env) -> AsyncIterator[object]:
    """The worker app running in this process (consumes the JOBS queue)."""
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

    async def _call(method, path, principal=None, headers=None, **kw):
        headers = {**assertion_headers(signer, principal), **(headers or {})}
        return await client.request(method, path, headers=headers, **kw)

    return _call
