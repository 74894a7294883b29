"""What chat's `query_database` tool asks of ingestion (queue group `ingestion`, any API replica):

- `rpc.ingestion.database.catalog.v1`: the agent's live SQL connections that an analysis found
  tables in, each with its dialect, name and tables (summary, columns with types). MongoDB
  connections are left out: the tool takes SQL.
- `rpc.ingestion.database.query.v1`: one statement on one of those connections, through
  `run_query` (guard, read-only bounded execution, audit; audited with source "model", the
  statement being a model's: the audit's sources are person | model | sample), at most 20 rows,
  values made JSON-safe and long ones cut. Errors are the RPC's error code and message, which chat
  hands to the model: `sql_refused` (with the guard's reason), `database_connection_not_found`
  (not a live connection of this agent of this company), `database_query_timeout`, …
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any, cast

from fastapi import FastAPI
from sqlalchemy import select

from knowrithm_common.events import Actor
from knowrithm_common.messaging.rpc import RpcResponder
from knowrithm_common.queries import (
    DATABASE_CATALOG_SUBJECT,
    DATABASE_QUERY_SUBJECT,
    CatalogColumn,
    CatalogConnection,
    CatalogTable,
    DatabaseCatalogReply,
    DatabaseCatalogRequest,
    DatabaseQueryReply,
    DatabaseQueryRequest,
)
from knowrithm_common.service import Background
from knowrithm_ingestion.databases.connections.repository import active_connections, get_connection
from knowrithm_ingestion.databases.connections.service import DatabaseConnectionNotFound
from knowrithm_ingestion.databases.guard import Dialect, check_sql
from knowrithm_ingestion.databases.queries.service import active_tables, run_query
from knowrithm_ingestion.models import DatabaseTable
from knowrithm_ingestion.pipeline.deps import Deps

MAX_VALUE_CHARS = 200  # a value longer than this reaches the model cut, with "…"
SQL_DIALECTS = frozenset({"postgresql", "cockroachdb", "mysql", "sqlite", "mssql"})

Value = str | int | float | bool | None


async def catalog(deps: Deps, request: DatabaseCatalogRequest) -> DatabaseCatalogReply:
    """The agent's SQL connections with analysed tables (oldest connection first, tables by name)."""
    async with deps.db.sessions() as session:
        connections = [
            c for c in await active_connections(session, request.company_id, agent_id=request.agent_id)
            if c.database_type in SQL_DIALECTS
        ]
        if not connections:
            return DatabaseCatalogReply(connections=[])
        stmt = (
            select(DatabaseTable)
            .where(DatabaseTable.connection_id.in_([c.id for c in connections]),
                   DatabaseTable.deleted_at.is_(None))
            .order_by(DatabaseTable.schema_name, DatabaseTable.name)
        )
        tables: dict[uuid.UUID, list[CatalogTable]] = {}
        for table in (await session.scalars(stmt)).all():
            columns = [
                CatalogColumn(name=str(column.get("name")), type=str(column.get("type") or ""))
                for column in table.columns or []
                if isinstance(column, dict) and column.get("name")
            ]
            tables.setdefault(table.connection_id, []).append(
                CatalogTable(name=table.name, schema_name=table.schema_name, summary=table.summary,
                             columns=columns)
            )
    return DatabaseCatalogReply(connections=[
        CatalogConnection(connection_id=c.id, name=c.name, dialect=c.database_type, tables=tables[c.id])
        for c in connections
        if tables.get(c.id)
    ])


async def query(deps: Deps, request: DatabaseQueryRequest) -> DatabaseQueryReply:
    """Run the statement through the guard on a live connection of the agent; its rows, cut."""
    async with deps.db.sessions() as session:
        connection = await get_connection(session, request.connection_id, request.company_id)
        if connection is None or connection.agent_id != request.agent_id:
            raise DatabaseConnectionNotFound()
        actor = Actor(kind="agent", id=request.agent_id)
        # One row more than is returned: whether the statement had more rows is known, not guessed.
        result = await run_query(session, deps, connection, request.sql, actor=actor, limit=request.limit + 1,
                                 timeout_s=request.timeout_s, source="model")
        # The guard already passed this statement; asked again, it names the tables it reads.
        allowed = await active_tables(session, connection.id)
        guarded = check_sql(request.sql, dialect=cast(Dialect, connection.database_type), tables=allowed,
                            limit=request.limit)
    rows = [[_value(value) for value in row] for row in result.rows[: request.limit]]
    return DatabaseQueryReply(
        connection_id=connection.id, connection_name=connection.name, dialect=connection.database_type,
        tables=guarded.tables, columns=list(result.columns), rows=rows, row_count=len(rows),
        truncated=result.truncated or len(result.rows) > request.limit, elapsed_ms=result.elapsed_ms,
    )


def _value(value: Any) -> Value:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)  # NaN, inf: as text
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
    elif isinstance(value, decimal.Decimal):
        text = format(value, "f")
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def subscribers(app: FastAPI) -> list[Background]:
    """The catalog and query responders."""

    async def answer_catalog(request: DatabaseCatalogRequest) -> DatabaseCatalogReply:
        return await catalog(app.state.deps, request)

    async def answer_query(request: DatabaseQueryRequest) -> DatabaseQueryReply:
        return await query(app.state.deps, request)

    catalog_responder: RpcResponder[DatabaseCatalogRequest, DatabaseCatalogReply] = RpcResponder(
        nats=app.state.nats, subject=DATABASE_CATALOG_SUBJECT, queue="ingestion",
        request=DatabaseCatalogRequest, handler=answer_catalog,
    )
    query_responder: RpcResponder[DatabaseQueryRequest, DatabaseQueryReply] = RpcResponder(
        nats=app.state.nats, subject=DATABASE_QUERY_SUBJECT, queue="ingestion",
        request=DatabaseQueryRequest, handler=answer_query,
    )
    return [catalog_responder, query_responder]
