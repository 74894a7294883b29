"""Use cases of analyses and analysed tables: queue an analysis (one connection, or every live one
of the company), store what it learnt, and list, read, soft-delete and restore tables. Each change
records its event in the same transaction; services flush, never commit.

Storing compares: a table whose metadata is unchanged is not written (its `updated_at` stays), a
changed one is updated in place, a new one added, and live tables the database no longer has are
soft-deleted. A table a person deleted stays deleted whatever an analysis finds (its metadata is
kept current); `PATCH …/table/{id}/restore` brings it back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import BadRequest, NotFound
from knowrithm_common.events import Actor
from knowrithm_common.events.ingestion import (
    AnalyzeDatabaseConnections,
    DatabaseConnectionAnalyzedV1,
    DatabaseTableRestoredV1,
    DatabaseTablesDeletedV1,
)
from knowrithm_common.pagination import PageParams, Pagination
from knowrithm_ingestion.databases.analysis import repository as repo
from knowrithm_ingestion.databases.analysis.documents import hide_summary_documents, restore_summary_documents
from knowrithm_ingestion.databases.connections import repository as connections
from knowrithm_ingestion.databases.connections.service import get_connection
from knowrithm_ingestion.models import DatabaseConnection, DatabaseTable, outbox
from knowrithm_ingestion.tasks import queue_job

TASK_KIND = "database_analysis"
# What an analysis writes into a table's row; the rest (ids, deleted_at) it leaves alone. The
# summaries and embeddings stages add the summary fields (`analysis.summaries`).
ANALYSED = ("columns", "primary_key", "foreign_keys", "row_estimate", "sample_rows")


class DatabaseTableNotFound(NotFound):
    code, message = "database_table_not_found", "Database table not found"


class TableConnectionDeleted(BadRequest):
    code = "database_connection_deleted"
    message = "Cannot restore the table: its database connection is deleted (restore the connection)"


@dataclass(frozen=True)
class AnalysedTable:
    """One table as an analysis found it, in the shape its row stores."""

    name: str
    schema: str  # "" where the engine has none
    values: dict[str, Any]  # the ANALYSED fields


@dataclass
class StoreOutcome:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    table_count: int = 0


# --- analyses ------------------------------------------------------------------------------


async def queue_analysis(
    session: AsyncSession,
    *,
    company_id: uuid.UUID,
    connection_ids: Sequence[uuid.UUID],
    bulk: bool = False,
    actor: Actor | None = None,
) -> uuid.UUID:
    """Queue one analysis job over `connection_ids` with its task; the task's id."""
    job = AnalyzeDatabaseConnections(connection_ids=list(connection_ids), bulk=bulk)
    return await queue_job(session, job, kind=TASK_KIND, company_id=company_id, actor=actor)


async def analyze_connection(
    session: AsyncSession,
    *,
    company_id: uuid.UUID | None,
    connection_id: uuid.UUID,
    actor: Actor | None = None,
) -> uuid.UUID:
    """Queue the analysis of one live connection of the company (404 otherwise); the task's id."""
    connection = await get_connection(session, company_id, connection_id)
    return await queue_analysis(
        session, company_id=connection.company_id, connection_ids=[connection.id], actor=actor
    )


async def analyze_all(
    session: AsyncSession,
    *,
    company_id: uuid.UUID,
    agent_id: uuid.UUID | None = None,
    actor: Actor | None = None,
) -> tuple[uuid.UUID, int]:
    """Queue the analysis of every live connection of the company (of one agent); (task id, how many)."""
    rows = await connections.active_connections(session, company_id, agent_id=agent_id)
    task_id = await queue_analysis(
        session, company_id=company_id, connection_ids=[c.id for c in rows], bulk=True, actor=actor
    )
    return task_id, len(rows)


async def store_analysis(
    session: AsyncSession,
    connection: DatabaseConnection,
    tables: Sequence[AnalysedTable],
    *,
    actor: Actor | None = None,
) -> StoreOutcome:
    """Write what an analysis found, only where it differs; soft-delete live tables now gone."""
    existing = {(t.schema_name, t.name): t for t in await repo.all_tables(session, connection.id)}
    outcome = StoreOutcome()
    for table in tables:
        row = existing.pop((table.schema, table.name), None)
        if row is None:
            session.add(_new_row(connection, table))
            outcome.added.append(table.name)
        elif _apply(row, connection, table.values):
            outcome.changed.append(table.name)
    gone = [row for row in existing.values() if row.deleted_at is None]
    if gone:
        await repo.soft_delete_tables(session, connection.id, utcnow(), table_ids=[r.id for r in gone])
        outcome.removed = [r.name for r in gone]
    await session.flush()
    outcome.table_count = len(await repo.active_tables(session, connection.id))
    analysed = DatabaseConnectionAnalyzedV1(
        database_connection_id=connection.id,
        agent_id=connection.agent_id,
        table_count=outcome.table_count,
        tables_added=len(outcome.added),
        tables_changed=len(outcome.changed),
        tables_removed=len(outcome.removed),
    )
    await outbox.add(session, analysed, company_id=connection.company_id, actor=actor)
    return outcome


def _new_row(connection: DatabaseConnection, table: AnalysedTable) -> DatabaseTable:
    return DatabaseTable(
        id=uuid.uuid4(),
        company_id=connection.company_id,
        agent_id=connection.agent_id,
        connection_id=connection.id,
        name=table.name,
        schema_name=table.schema,
        **table.values,
    )


def _apply(row: DatabaseTable, connection: DatabaseConnection, values: dict[str, Any]) -> bool:
    """Set the fields that differ (nothing is written when none does); whether any did."""
    wanted = {**values, "agent_id": connection.agent_id}
    changed = {name: value for name, value in wanted.items() if getattr(row, name) != value}
    for name, value in changed.items():
        setattr(row, name, value)
    return bool(changed)


# --- tables --------------------------------------------------------------------------------


async def list_tables(
    session: AsyncSession, *, company_id: uuid.UUID | None, connection_id: uuid.UUID, page: PageParams
) -> tuple[DatabaseConnection, Sequence[DatabaseTable], Pagination]:
    """A live connection of the company and one page of its live tables."""
    connection = await get_connection(session, company_id, connection_id)
    rows, pagination = await repo.list_tables(session, connection.id, page)
    return connection, rows, pagination


async def active_tables(session: AsyncSession, connection_id: uuid.UUID) -> Sequence[DatabaseTable]:
    """The live tables of a connection the caller already scoped (for text-to-SQL, export, snapshot)."""
    return await repo.active_tables(session, connection_id)


async def get_table(
    session: AsyncSession, company_id: uuid.UUID | None, table_id: uuid.UUID
) -> DatabaseTable:
    """A live table of the company (its connection live); 404 `database_table_not_found` otherwise."""
    table = await repo.get_table(session, table_id, company_id)
    if table is None:
        raise DatabaseTableNotFound()
    return table


async def deleted_tables(
    session: AsyncSession, company_id: uuid.UUID | None, page: PageParams
) -> tuple[Sequence[DatabaseTable], Pagination]:
    """One page of the company's soft-deleted tables (of live connections)."""
    return await repo.deleted_tables(session, company_id, page)


async def _tables_deleted(
    session: AsyncSession, connection: DatabaseConnection, ids: list[uuid.UUID], actor: Actor | None
) -> None:
    if ids:
        deleted = DatabaseTablesDeletedV1(
            database_connection_id=connection.id, agent_id=connection.agent_id, table_ids=ids
        )
        await outbox.add(session, deleted, company_id=connection.company_id, actor=actor)


async def delete_table(
    session: AsyncSession, *, company_id: uuid.UUID | None, table_id: uuid.UUID, actor: Actor | None = None
) -> DatabaseTable:
    """Soft-delete one table's metadata."""
    table = await repo.get_table(session, table_id, company_id, lock=True)
    if table is None:
        raise DatabaseTableNotFound()
    connection = await get_connection(session, table.company_id, table.connection_id)
    table.deleted_at = utcnow()
    await session.flush()
    await hide_summary_documents(session, connection, [table], table.deleted_at, actor=actor)
    await _tables_deleted(session, connection, [table.id], actor)
    return table


async def delete_tables(
    session: AsyncSession,
    *,
    company_id: uuid.UUID | None,
    connection_id: uuid.UUID,
    actor: Actor | None = None,
) -> tuple[DatabaseConnection, int]:
    """Soft-delete every live table of a live connection of the company; (connection, how many)."""
    connection = await get_connection(session, company_id, connection_id, lock=True)
    at = utcnow()
    ids = await repo.soft_delete_tables(session, connection.id, at)
    deleted = [t for t in await repo.all_tables(session, connection.id) if t.id in set(ids)]
    await hide_summary_documents(session, connection, deleted, at, actor=actor)
    await _tables_deleted(session, connection, ids, actor)
    return connection, len(ids)


async def restore_table(
    session: AsyncSession, *, company_id: uuid.UUID | None, table_id: uuid.UUID, actor: Actor | None = None
) -> DatabaseTable:
    """Restore a soft-deleted table (400 while its connection is deleted)."""
    table = await repo.get_table(session, table_id, company_id, deleted=True, lock=True)
    if table is None:
        if await _of_deleted_connection(session, company_id, table_id):
            raise TableConnectionDeleted()
        raise DatabaseTableNotFound("Deleted database table not found")
    connection = await get_connection(session, table.company_id, table.connection_id)
    if table.deleted_at is not None:
        await restore_summary_documents(session, connection, [table], table.deleted_at, actor=actor)
    table.deleted_at = None
    await session.flush()
    restored = DatabaseTableRestoredV1(
        database_connection_id=connection.id, agent_id=connection.agent_id, table_id=table.id
    )
    await outbox.add(session, restored, company_id=connection.company_id, actor=actor)
    return table


async def _of_deleted_connection(
    session: AsyncSession, company_id: uuid.UUID | None, table_id: uuid.UUID
) -> bool:
    table = await session.get(DatabaseTable, table_id)
    if table is None or (company_id is not None and table.company_id != company_id):
        return False
    connection = await connections.get_connection(session, table.connection_id, company_id, deleted=True)
    return connection is not None


async def tables_out_types(session: AsyncSession, tables: Sequence[DatabaseTable]) -> dict[uuid.UUID, str]:
    """The engine of each table's connection (how a table is described: TABLE or COLLECTION)."""
    return await repo.database_types(session, [t.connection_id for t in tables])
