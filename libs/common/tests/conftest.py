"""Fixtures for libs/common: a database of its own on the embedded Postgres, NATS, Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import MetaData, create_engine, text

from knowrithm_common.db.base import NAMING_CONVENTION
from knowrithm_common.db.session import Database
from knowrithm_common.db.shared_tables import SharedTables
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.settings import to_psycopg_url

SCHEMA = "libtest"


@pytest.fixture(scope="session")
def lib_database_url(stack) -> str:
    url = stack.create_database("libs_common_tests")
    engine = create_engine(to_psycopg_url(url))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    platform_metadata().create_all(engine)
    engine.dispose()
    return url


_metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)
_platform = SharedTables(_metadata)


def platform_metadata() -> MetaData:
    return _metadata


@pytest.fixture(scope="session")
def tables() -> SharedTables:
    return _platform


@pytest.fixture
async def db(lib_database_url: str) -> AsyncIterator[Database]:
    database = Database(lib_database_url, schema=SCHEMA)
    yield database
    await database.dispose()


@pytest.fixture
async def nats(stack) -> AsyncIterator[NatsConnection]:
    connection = NatsConnection(stack.nats_url, name="libs-common-tests")
    await connection.start()
    assert await connection.wait_connected(timeout=10)
    yield connection
    await connection.close()
