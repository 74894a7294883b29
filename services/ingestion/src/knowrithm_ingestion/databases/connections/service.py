"""Database connection use cases: create, read, update, soft delete and restore, each change with
its event in the same transaction. Services flush, never commit.

The URL is encrypted with ENCRYPTION_KEY before it is stored and never leaves in a response:
rows keep host, port, database, user and the masked URL in clear. `connection_spec` is how the
engines, analysis and queries get the decrypted URL back. Deleting a connection soft-deletes
its tables' metadata at the same instant; restoring brings back exactly those tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.crypto import SecretBox, UndecryptableSecret
from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import Conflict, NotFound, ServiceUnavailable
from knowrithm_common.events import Actor
from knowrithm_common.events.ingestion import (
    DatabaseConnectionCreatedV1,
    DatabaseConnectionDeletedV1,
    DatabaseConnectionRestoredV1,
    DatabaseConnectionUpdatedV1,
)
from knowrithm_common.pagination import PageParams, Pagination
from knowrithm_common.queries import AgentsOwner
from knowrithm_common.safehttp import Allowlist
from knowrithm_ingestion.agents.projection import get_agent
from knowrithm_ingestion.databases.connections import repository as repo
from knowrithm_ingestion.databases.connections.schemas import ConnectionCreate, ConnectionUpdate
from knowrithm_ingestion.databases.connections.urls import (
    Engine,
    InvalidConnection,
    ParsedUrl,
    check_hosts,
    clean_params,
    engine_of,
    parse_url,
)
from knowrithm_ingestion.models import AgentView, DatabaseConnection, outbox
from knowrithm_ingestion.vectorstore.base import VectorStore


class DatabaseConnectionNotFound(NotFound):
    code, message = "database_connection_not_found", "Database connection not found"


class ConnectionNameTaken(Conflict):
    code = "database_connection_name_taken"
    message = "The agent already has a database connection with this name"


class EncryptionNotConfigured(ServiceUnavailable):
    code = "encryption_not_configured"
    message = "Database connections need ENCRYPTION_KEY on the ingestion service to store their URLs"


@dataclass(frozen=True, slots=True)
class SqliteFile:
    """An uploaded SQLite database, stored in the blob store."""

    blob_key: str
    filename: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ConnectionSpec:
    """What an engine needs to connect: the decrypted URL (None for sqlite: `sqlite_blob_key`)."""

    connection_id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID
    engine: Engine
    url: str | None
    host: str | None
    port: int | None
    database: str | None
    username: str | None
    params: dict[str, Any]
    sqlite_blob_key: str | None


@dataclass(frozen=True, slots=True)
class Policy:
    """What the checks of a URL need: the key box and the hosts the operator allows."""

    box: SecretBox | None
    allowlist: Allowlist

    def encrypt(self, url: str) -> str:
        if self.box is None:
            raise EncryptionNotConfigured()
        return self.box.encrypt(url)


def connection_spec(connection: DatabaseConnection, box: SecretBox) -> ConnectionSpec:
    """The connection as an engine takes it, its URL decrypted (UndecryptableSecret if the key changed)."""
    url = box.decrypt(connection.url_encrypted) if connection.url_encrypted else None
    return ConnectionSpec(
        connection_id=connection.id,
        company_id=connection.company_id,
        agent_id=connection.agent_id,
        engine=Engine(connection.database_type),
        url=url,
        host=connection.host,
        port=connection.port,
        database=connection.database_name,
        username=connection.username,
        params=dict(connection.connection_params or {}),
        sqlite_blob_key=connection.sqlite_blob_key,
    )


async def get_connection(
    session: AsyncSession, company_id: uuid.UUID | None, connection_id: uuid.UUID, *, lock: bool = False
) -> DatabaseConnection:
    """A live connection of the company; 404 `database_connection_not_found` otherwise."""
    connection = await repo.get_connection(session, connection_id, company_id, lock=lock)
    if connection is None:
        raise DatabaseConnectionNotFound()
    return connection


def _apply_url(
    connection: DatabaseConnection, parsed: ParsedUrl | None, url: str | None, policy: Policy
) -> None:
    connection.url_encrypted = policy.encrypt(url) if parsed and url else None
    connection.url_masked = parsed.masked() if parsed else None
    connection.host = parsed.host if parsed else None
    connection.port = parsed.port if parsed else None
    connection.database_name = parsed.database if parsed else None
    connection.username = parsed.username if parsed else None


def _name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise InvalidConnection("name", "give the connection a name")
    return name


def _checked_url(
    engine: Engine, url: str | None, policy: Policy, field_name: str = "url"
) -> ParsedUrl | None:
    if engine is Engine.SQLITE:
        if url is not None:
            parse_url(engine, url, field_name=field_name)  # refuses it, saying why
        return None
    if not url:
        raise InvalidConnection(field_name, f"a {engine.value} connection needs its URL")
    parsed = parse_url(engine, url, field_name=field_name)
    check_hosts(parsed, policy.allowlist, field_name=field_name)
    return parsed


async def _unique_name(
    session: AsyncSession, *, agent_id: uuid.UUID, name: str, other_than: uuid.UUID | None = None
) -> None:
    if await repo.name_taken(session, agent_id=agent_id, name=name, other_than=other_than):
        raise ConnectionNameTaken()


async def create_connection(
    session: AsyncSession,
    policy: Policy,
    *,
    agent: AgentView,
    body: ConnectionCreate,
    user_id: uuid.UUID | None,
    sqlite: SqliteFile | None = None,
    actor: Actor | None = None,
) -> DatabaseConnection:
    """Add a connection of the agent: URL checked and encrypted, or the uploaded SQLite file."""
    engine = engine_of(body.database_type)
    if engine is Engine.SQLITE and sqlite is None and body.url is None:
        raise InvalidConnection(
            "file", "a sqlite connection takes an uploaded SQLite file (multipart `file`)"
        )
    if engine is not Engine.SQLITE and sqlite is not None:
        raise InvalidConnection(
            "file", f"only sqlite connections take a file; a {engine.value} one takes a url"
        )
    parsed = _checked_url(engine, body.url, policy)
    params = clean_params(body.connection_params, engine)
    name = _name(body.name)
    await _unique_name(session, agent_id=agent.agent_id, name=name)
    connection = DatabaseConnection(
        id=uuid.uuid4(),
        company_id=agent.company_id,
        agent_id=agent.agent_id,
        user_id=user_id,
        name=name,
        database_type=engine.value,
        connection_params=params,
        pool_size=body.pool_size,
        max_overflow=body.max_overflow,
    )
    _apply_url(connection, parsed, body.url, policy)
    if sqlite is not None:
        connection.sqlite_blob_key, connection.sqlite_filename = sqlite.blob_key, sqlite.filename
        connection.sqlite_size, connection.sqlite_sha256 = sqlite.size, sqlite.sha256
    session.add(connection)
    await session.flush()
    created = DatabaseConnectionCreatedV1(
        database_connection_id=connection.id,
        agent_id=connection.agent_id,
        name=connection.name,
        database_type=connection.database_type,
        host=connection.host,
        database=connection.database_name,
    )
    await outbox.add(session, created, company_id=connection.company_id, actor=actor)
    return connection


async def list_connections(
    session: AsyncSession, company_id: uuid.UUID | None, page: PageParams, *, deleted: bool = False
) -> tuple[Sequence[DatabaseConnection], Pagination]:
    """One page of the company's live (or soft-deleted) connections, newest first."""
    return await repo.list_connections(session, company_id, page, deleted=deleted)


async def agent_connections(
    session: AsyncSession,
    agents: AgentsOwner,
    page: PageParams,
    *,
    company_id: uuid.UUID | None,
    agent_id: uuid.UUID,
) -> tuple[Sequence[DatabaseConnection], Pagination]:
    """One page of an agent's live connections; 404 for an agent not of the company."""
    agent = await get_agent(session, company_id=company_id, agent_id=agent_id, owner=agents)
    return await repo.list_connections(session, agent.company_id, page, agent_id=agent.agent_id)


def _new_engine(connection: DatabaseConnection, body: ConnectionUpdate) -> Engine:
    engine = (
        engine_of(body.database_type) if body.database_type is not None else Engine(connection.database_type)
    )
    if engine is Engine.SQLITE and connection.database_type != Engine.SQLITE.value:
        raise InvalidConnection(
            "database_type",
            "a connection cannot become sqlite; create a sqlite connection with its uploaded file",
        )
    if engine is not Engine.SQLITE and connection.database_type == Engine.SQLITE.value:
        raise InvalidConnection("database_type", "a sqlite connection cannot change engine; create a new one")
    return engine


def _reparse_stored(connection: DatabaseConnection, engine: Engine, policy: Policy) -> None:
    """The stored URL must fit a new engine too (checked without showing it)."""
    if engine is Engine.SQLITE or not connection.url_encrypted:
        return
    if policy.box is None:
        raise EncryptionNotConfigured()
    try:
        url = policy.box.decrypt(connection.url_encrypted)
    except UndecryptableSecret:
        raise InvalidConnection(
            "url", "the stored URL cannot be read with the current ENCRYPTION_KEY; give the URL again"
        ) from None
    parse_url(engine, url, field_name="database_type")


async def update_connection(
    session: AsyncSession,
    policy: Policy,
    agents: AgentsOwner,
    connection: DatabaseConnection,
    *,
    body: ConnectionUpdate,
    actor: Actor | None = None,
) -> list[str]:
    """Change the fields given (URL checked and encrypted again); the names of those that changed."""
    changes = body.changes()
    if changes.get("is_active") is False:
        await _soft_delete(session, connection, actor=actor)
        return ["is_active"]
    engine = _new_engine(connection, body)
    fields: list[str] = []
    if body.url is not None:
        _apply_url(connection, _checked_url(engine, body.url, policy), body.url, policy)
        fields.append("url")
    elif engine.value != connection.database_type:
        _reparse_stored(connection, engine, policy)
    if engine.value != connection.database_type:
        connection.database_type = engine.value
        fields.append("database_type")
    if body.connection_params is not None:
        connection.connection_params = clean_params(body.connection_params, engine)
        fields.append("connection_params")
    if body.agent_id is not None and body.agent_id != connection.agent_id:
        agent = await get_agent(
            session, company_id=connection.company_id, agent_id=body.agent_id, owner=agents
        )
        connection.agent_id = agent.agent_id
        fields.append("agent_id")
    if body.name is not None and _name(body.name) != connection.name:
        connection.name = _name(body.name)
        fields.append("name")
    for name in ("pool_size", "max_overflow"):
        if name in changes and changes[name] != getattr(connection, name):
            setattr(connection, name, changes[name])
            fields.append(name)
    if {"name", "agent_id"} & set(fields):
        await _unique_name(
            session, agent_id=connection.agent_id, name=connection.name, other_than=connection.id
        )
    if {"url", "database_type", "connection_params"} & set(fields):
        connection.last_tested = connection.test_status = connection.test_result = (
            None  # an old test says nothing
        )
    if fields:
        connection.updated_at = utcnow()
        await session.flush()
        updated = DatabaseConnectionUpdatedV1(
            database_connection_id=connection.id,
            agent_id=connection.agent_id,
            name=connection.name,
            database_type=connection.database_type,
            fields=fields,
        )
        await outbox.add(session, updated, company_id=connection.company_id, actor=actor)
    return fields


async def _soft_delete(session: AsyncSession, connection: DatabaseConnection, *, actor: Actor | None) -> int:
    at = utcnow()
    connection.deleted_at = at
    tables = await repo.soft_delete_tables(session, connection.id, at)
    await session.flush()
    deleted = DatabaseConnectionDeletedV1(
        database_connection_id=connection.id, agent_id=connection.agent_id, tables_deleted=tables
    )
    await outbox.add(session, deleted, company_id=connection.company_id, actor=actor)
    return tables


async def delete_connection(
    session: AsyncSession,
    *,
    company_id: uuid.UUID | None,
    connection_id: uuid.UUID,
    actor: Actor | None = None,
    store: VectorStore | None = None,
) -> tuple[DatabaseConnection, int]:
    """Soft-delete a connection with its tables' metadata and its exported documents (their vectors
    leave the index after commit when `store` is given); (connection, tables deleted)."""
    from knowrithm_ingestion.databases.export.service import delete_exported_documents

    connection = await get_connection(session, company_id, connection_id, lock=True)
    tables = await _soft_delete(session, connection, actor=actor)
    assert connection.deleted_at is not None
    await delete_exported_documents(session, connection, connection.deleted_at, store=store, actor=actor)
    return connection, tables


async def restore_connection(
    session: AsyncSession,
    agents: AgentsOwner,
    *,
    company_id: uuid.UUID | None,
    connection_id: uuid.UUID,
    actor: Actor | None = None,
    store: VectorStore | None = None,
) -> tuple[DatabaseConnection, int]:
    """Restore a soft-deleted connection with the tables and exported documents deleted with it (indexed
    again after commit when `store` is given); 409 if its name was taken since."""
    from knowrithm_ingestion.databases.export.service import restore_exported_documents

    connection = await repo.get_connection(session, connection_id, company_id, deleted=True, lock=True)
    if connection is None:
        raise DatabaseConnectionNotFound("Deleted database connection not found")
    await get_agent(session, company_id=connection.company_id, agent_id=connection.agent_id, owner=agents)
    await _unique_name(session, agent_id=connection.agent_id, name=connection.name)
    deleted_at = connection.deleted_at
    connection.deleted_at = None
    tables = await repo.restore_tables(session, connection.id, deleted_at) if deleted_at else 0
    if deleted_at:
        await restore_exported_documents(session, connection, deleted_at, store=store, actor=actor)
    await session.flush()
    restored = DatabaseConnectionRestoredV1(
        database_connection_id=connection.id, agent_id=connection.agent_id, tables_restored=tables
    )
    await outbox.add(session, restored, company_id=connection.company_id, actor=actor)
    return connection, tables
