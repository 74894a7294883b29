"""The one way SQL (or a MongoDB pipeline) reaches a company's database.

`run_query`: the statement is checked by the guard in the connection's dialect against the
connection's active tables (those analysis found; before any analysis every table is allowed but
system catalogs are still refused), its LIMIT clamped (at most `MAX_LIMIT` rows), then the
regenerated statement runs through the connection's engine, read-only and cut at `timeout_s`.
`run_pipeline` does the same for MongoDB with the pipeline guard. Every call is audited in
`database_queries` in a transaction of its own, so a refusal or a failure is recorded even when
the caller's transaction rolls back; the statement is kept only as its SHA-256. Runs from a
person, a model or a chat tool are also recorded as `ingestion.database.query.executed.v1` (in the
audit row's transaction, through the outbox; never the statement's text); the sample queries that
analysis and the sample-queries route run (`sample`) are audited but not published, to keep the
event log to what people and agents asked.

Errors pass unchanged: the guard's 422 (`sql_refused`, `pipeline_refused`), the engines' 422
(`database_host_refused`, `database_query_failed`), 502 (`database_unreachable`) and 504
(`database_query_timeout`).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.events import Actor
from knowrithm_common.events.ingestion import DatabaseQueryExecutedV1
from knowrithm_ingestion.databases.connections.engine_spec import (  # noqa: F401 - re-exported
    SqliteFileMissing,
    UnreadableConnectionUrl,
    engine_spec,
)
from knowrithm_ingestion.databases.engines import (
    DatabaseQueryFailed,
    DatabaseQueryTimeout,
    MongoQuery,
    QueryResult,
    get_engine,
)
from knowrithm_ingestion.databases.guard import Dialect, GuardedSql, SqlRefused, check_sql
from knowrithm_ingestion.databases.pipeline_guard import PipelineRefused, check_pipeline
from knowrithm_ingestion.models import DatabaseConnection, DatabaseQuery, DatabaseTable, outbox
from knowrithm_ingestion.pipeline.deps import Deps

Source = Literal["person", "model", "tool", "sample"]
# Sources whose runs are published as events (samples are audited only).
PUBLISHED_SOURCES: frozenset[str] = frozenset({"person", "model", "tool"})
MAX_LIMIT = 1_000
MAX_TIMEOUT_S = 60.0


async def active_tables(session: AsyncSession, connection_id: uuid.UUID) -> list[str] | None:
    """The names the guard allows (`name` and `schema.name`, lower case); None before any analysis."""
    stmt = select(DatabaseTable.schema_name, DatabaseTable.name).where(
        DatabaseTable.connection_id == connection_id, DatabaseTable.deleted_at.is_(None)
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        return None
    names: set[str] = set()
    for schema, name in rows:
        names.add(name.lower())
        if schema:
            names.add(f"{schema}.{name}".lower())
    return sorted(names)


async def guard_sql(
    session: AsyncSession, connection: DatabaseConnection, sql: str, *, limit: int
) -> GuardedSql:
    """The guard's verdict on `sql` for this connection (its active tables, dialect and schemas):
    the statement regenerated and clamped, and the tables it reads; `SqlRefused` otherwise.
    `run_query` checks the same way before it executes."""
    tables = await active_tables(session, connection.id)
    return check_sql(
        sql, dialect=_dialect(connection), tables=tables, limit=limit, schemas=_schemas(connection)
    )


def _dialect(connection: DatabaseConnection) -> Dialect:
    return connection.database_type  # type: ignore[return-value]  # postgresql, cockroachdb, mysql, sqlite, mssql


def _schemas(connection: DatabaseConnection) -> list[str] | None:
    """Where a qualified table name may point: on MySQL (a qualifier names a database) the
    connection's database and its `schemas` parameter; on SQLite `main` only (`temp` and attached
    databases are not the uploaded file); elsewhere any schema but the system ones."""
    if connection.database_type == "sqlite":
        return ["main"]
    if connection.database_type != "mysql":
        return None
    named = [str(s) for s in (connection.connection_params or {}).get("schemas") or []]
    return [connection.database_name, *named] if connection.database_name else named or None


def _bounds(limit: int, timeout_s: float) -> tuple[int, float]:
    return max(1, min(int(limit), MAX_LIMIT)), max(0.1, min(float(timeout_s), MAX_TIMEOUT_S))


async def run_query(
    session: AsyncSession,
    deps: Deps,
    connection: DatabaseConnection,
    sql: str,
    *,
    actor: Actor | None,
    limit: int = 100,
    timeout_s: float = 15.0,
    source: Source = "person",
) -> QueryResult:
    """Guard, execute (read-only, bounded) and audit one SQL statement on `connection`."""
    limit, timeout_s = _bounds(limit, timeout_s)
    digest = hashlib.sha256(sql.encode("utf-8", "surrogatepass")).hexdigest()
    tables = await active_tables(session, connection.id)
    started = time.perf_counter()
    try:
        if connection.database_type == "mongodb":
            raise SqlRefused("a MongoDB connection takes an aggregation pipeline, not SQL")
        # One row more than is returned, so the engine knows whether the result was cut (`truncated`).
        guarded = check_sql(
            sql, dialect=_dialect(connection), tables=tables, limit=limit + 1, schemas=_schemas(connection)
        )
        async with engine_spec(deps, connection) as spec:
            result = await get_engine(spec.engine).execute(
                spec, deps.settings.database_allowed(), guarded.sql, limit=limit, timeout_s=timeout_s
            )
    except Exception as exc:
        await _audit(deps, connection, actor, digest, source, started, error=exc)
        raise
    await _audit(deps, connection, actor, digest, source, started, result=result)
    return result


async def run_pipeline(
    session: AsyncSession,
    deps: Deps,
    connection: DatabaseConnection,
    collection: str,
    pipeline: list[dict[str, Any]],
    *,
    actor: Actor | None,
    limit: int = 100,
    timeout_s: float = 15.0,
    source: Source = "person",
) -> QueryResult:
    """Guard, execute (aggregate only, `maxTimeMS`, `$limit`) and audit one MongoDB pipeline."""
    limit, timeout_s = _bounds(limit, timeout_s)
    digest = hashlib.sha256(
        json.dumps([collection, pipeline], sort_keys=True, default=str).encode("utf-8", "surrogatepass")
    ).hexdigest()
    tables = await active_tables(session, connection.id)
    started = time.perf_counter()
    try:
        if connection.database_type != "mongodb":
            raise PipelineRefused(f"a {connection.database_type} connection takes SQL, not a pipeline")
        guarded = check_pipeline(
            collection, pipeline, collections=tables, limit=limit, max_time_ms=int(timeout_s * 1000)
        )
        async with engine_spec(deps, connection) as spec:
            result = await get_engine("mongodb").execute(
                spec,
                deps.settings.database_allowed(),
                MongoQuery(guarded.collection, guarded.pipeline),
                limit=limit,
                timeout_s=timeout_s,
            )
    except Exception as exc:
        await _audit(deps, connection, actor, digest, source, started, error=exc)
        raise
    await _audit(deps, connection, actor, digest, source, started, result=result)
    return result


def outcome_of(error: BaseException | None) -> tuple[str, str | None]:
    """(outcome, error code) of an execution: ok, refused (guard or host), timeout, or failed."""
    if error is None:
        return "ok", None
    code = getattr(error, "code", None) or type(error).__name__
    if isinstance(error, SqlRefused | PipelineRefused):
        return "refused", code
    if isinstance(error, DatabaseQueryTimeout):
        return "timeout", code
    if isinstance(error, DatabaseQueryFailed):
        return "failed", code
    if code == "database_host_refused":
        return "refused", code
    return "failed", str(code)[:64]


async def _audit(
    deps: Deps,
    connection: DatabaseConnection,
    actor: Actor | None,
    digest: str,
    source: Source,
    started: float,
    *,
    result: QueryResult | None = None,
    error: BaseException | None = None,
) -> None:
    outcome, code = outcome_of(error)
    row = DatabaseQuery(
        id=uuid.uuid4(),
        company_id=connection.company_id,
        connection_id=connection.id,
        actor_kind=(actor.kind if actor else "system")[:20],
        actor_id=actor.id if actor else None,
        sql_sha256=digest,
        source=source,
        rows=len(result.rows) if result is not None else None,
        elapsed_ms=(
            result.elapsed_ms if result is not None else round((time.perf_counter() - started) * 1000, 1)
        ),
        outcome=outcome,
        error_code=code,
    )
    async with deps.db.session() as audit:
        audit.add(row)
        if source in PUBLISHED_SOURCES:
            await outbox.add(audit, _executed(connection, row), company_id=connection.company_id, actor=actor)
        await audit.commit()


def _executed(connection: DatabaseConnection, row: DatabaseQuery) -> DatabaseQueryExecutedV1:
    return DatabaseQueryExecutedV1(
        database_connection_id=connection.id,
        agent_id=connection.agent_id,
        source=row.source,
        outcome=row.outcome,
        error_code=row.error_code,
        rows=row.rows,
        elapsed_ms=row.elapsed_ms or 0.0,
        sql_sha256=row.sql_sha256,
    )


async def recent_audit(
    session: AsyncSession, connection_id: uuid.UUID, *, limit: int = 100
) -> Sequence[DatabaseQuery]:
    """The connection's latest audit rows, newest first."""
    stmt = (
        select(DatabaseQuery)
        .where(DatabaseQuery.connection_id == connection_id)
        .order_by(DatabaseQuery.created_at.desc())
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()
