"""Alembic helpers: each service's migrations and version table live in its own schema."""

from __future__ import annotations

import os
import sys
from importlib.resources import files

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import Connection

from knowrithm_common.settings import to_psycopg_url


def alembic_config(*, package: str, schema: str, url: str) -> Config:
    """An alembic Config for `<package>/migrations` bound to `schema`."""
    config = Config()
    config.set_main_option("script_location", str(files(package) / "migrations"))
    config.set_main_option("sqlalchemy.url", to_psycopg_url(url).replace("%", "%%"))
    config.attributes["schema"] = schema
    return config


def upgrade(*, package: str, schema: str, url: str, revision: str = "head") -> None:
    """Create `schema` if missing and upgrade it to `revision`."""
    engine = create_engine(to_psycopg_url(url))
    with engine.begin() as conn:
        # Replicas starting together migrate one at a time; the others then find head.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:schema))"), {"schema": schema})
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        config = alembic_config(package=package, schema=schema, url=url)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py (online mode only)."""
    config = context.config
    schema: str = config.attributes["schema"]
    connection: Connection | None = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _configure_and_run(conn, target_metadata, schema)
        return
    _configure_and_run(connection, target_metadata, schema)


def _configure_and_run(conn: Connection, metadata: MetaData, schema: str) -> None:
    context.configure(
        connection=conn,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=False,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main(*, package: str, schema: str) -> None:
    """Entry point of `python -m knowrithm_<service>.migrate`: upgrade to head from DATABASE_URL."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_URL is not set")
    upgrade(package=package, schema=schema, url=url)
    print(f"{schema}: migrated to head")
