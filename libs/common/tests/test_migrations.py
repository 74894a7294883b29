"""Every service's migrations build exactly the tables its models declare, in its own schema."""

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from knowrithm_common.db.migrations import upgrade
from knowrithm_common.settings import to_psycopg_url

SERVICES = ["auth", "agents", "conversations", "ingestion", "analytics"]


@pytest.fixture(scope="module")
def migrated_url(stack) -> str:
    url = stack.create_database("migrations_check")
    for name in SERVICES:
        upgrade(package=f"knowrithm_{name}", schema=name, url=url)
        upgrade(package=f"knowrithm_{name}", schema=name, url=url)  # idempotent
    return url


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_models_and_keep_version_in_own_schema(migrated_url, service):
    models = importlib.import_module(f"knowrithm_{service}.models")
    engine = create_engine(to_psycopg_url(migrated_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_schemas": True, "version_table_schema": service,
                            "include_name": lambda name, type_, parent: type_ != "schema" or name == service}
            )
            diff = compare_metadata(context, models.Base.metadata)
            tables = set(inspect(conn).get_table_names(schema=service))
    finally:
        engine.dispose()
    assert diff == []
    assert {"alembic_version", "outbox", "processed_events", "tasks"} <= tables
