"""Ingestion tests: the real API app (and worker) on their own migrated database, with the
embedded NATS and Redis; agents appear through the same events the agents service publishes.

The app (and the worker, where a module asks for it) runs once per test module; tests keep
apart by making their own companies and agents (`support.add_agent`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from knowrithm_common.crypto import generate_key
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.testing import KeyPair, environment, gateway_call, service_client, service_env
from knowrithm_stack.chinook import load_mysql, load_postgres, load_sqlite

ASSERTION_KEYS = KeyPair.generate()
# The app's and worker's ENCRYPTION_KEY: database connection URLs are encrypted with it.
DATABASE_KEY = generate_key()


@pytest.fixture(scope="session")
def ingestion_env(stack, tmp_path_factory) -> dict[str, str]:
    url = stack.create_database("ingestion_service_tests")
    upgrade(package="knowrithm_ingestion", schema="ingestion", url=url)
    blobs = tmp_path_factory.mktemp("blobs")
    return service_env(
        database_url=url, nats_url=stack.nats_url, redis_url=stack.redis_url, assertion=ASSERTION_KEYS,
        extra={"INGESTION_BLOB_DIR": str(blobs), "INGESTION_VECTOR_STORE": "pgvector",
               "INGESTION_FETCH_ALLOWLIST": "127.0.0.5/32", "INGESTION_JOB_ACK_WAIT_SECONDS": "5",
               # the test database servers listen on 127.0.0.1
               "INGESTION_DATABASE_ALLOWLIST": "127.0.0.1/32", "ENCRYPTION_KEY": DATABASE_KEY},
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


# --- Chinook (11 tables, 15,607 rows) in each engine a company database can be, per test module

def _module_name(request) -> str:
    return request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:40]


@pytest.fixture(scope="module")
def chinook_pg(stack, request) -> str:
    """A URL of Chinook in the embedded PostgreSQL (its superuser)."""
    url = stack.create_database(f"chinook_{_module_name(request)}")
    load_postgres(url)
    return url


@pytest.fixture(scope="module")
def chinook_maria(mariadb, request) -> str:
    """A URL of Chinook in the MariaDB the fixtures start, as a SELECT-only user."""
    name = f"chinook_{_module_name(request)}"
    load_mysql(mariadb.create_database(name))
    return mariadb.create_user(f"{name[:24]}_r", database=name)


@pytest.fixture(scope="module")
def chinook_sqlite(tmp_path_factory) -> bytes:
    """Chinook as a SQLite file's bytes, to upload."""
    path = tmp_path_factory.mktemp("chinook") / "chinook.sqlite"
    load_sqlite(path)
    return path.read_bytes()


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def chinook(request) -> dict:
    """How to create a connection to Chinook on each engine (`support.create_connection(**chinook)`)."""
    if request.param == "postgresql":
        return {"database_type": "postgres", "url": request.getfixturevalue("chinook_pg")}
    if request.param == "mariadb":
        return {"database_type": "mariadb", "url": request.getfixturevalue("chinook_maria")}
    return {"database_type": "sqlite", "file": request.getfixturevalue("chinook_sqlite")}
