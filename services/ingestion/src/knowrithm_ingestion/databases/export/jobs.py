"""The ExportDatabaseTables job (run by the ingestion worker): read each chosen table through the
guard and the engine, render its rows, and create or replace the table's document, queued for the
normal pipeline. Progress per table ("table i of N: name").

Each table is saved in its own short transaction holding the connection's row lock, after
checking the connection is still live: a deletion that commits stops the export, and two exports
of one connection never create two documents for a table. A table that cannot be read is
reported in the task's result and the others go on; the task fails only when none could be.
A redelivered job does the work again and replaces what it finds (unchanged tables stay as they are).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import select

from knowrithm_common.db.session import run_after_commit
from knowrithm_common.errors import KnowrithmError
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.ingestion import DatabaseConnectionExportedV1, ExportDatabaseTables
from knowrithm_common.messaging.jobs import JobContext, JobHandler
from knowrithm_common.tasks import TaskStatus, report_progress
from knowrithm_ingestion.databases.connections import repository as connections
from knowrithm_ingestion.databases.connections.engine_spec import engine_spec
from knowrithm_ingestion.databases.engines import ConnectionSpec, MongoQuery, get_engine
from knowrithm_ingestion.databases.export.render import qualified, render_table, select_all
from knowrithm_ingestion.databases.export.service import save_table_document
from knowrithm_ingestion.databases.guard import Dialect, check_sql
from knowrithm_ingestion.databases.pipeline_guard import check_pipeline
from knowrithm_ingestion.models import DatabaseConnection, DatabaseTable, outbox, shared
from knowrithm_ingestion.pipeline.deps import Deps

logger = logging.getLogger(__name__)

MAX_ROWS_PER_TABLE = 10_000  # the most rows one table's document holds (limit_per_table may lower it)
MAX_DOCUMENT_CHARS = 5_000_000  # the most text one table's document holds
QUERY_TIMEOUT_S = 60.0


class _ConnectionGone(Exception):
    """The connection was deleted while it was being exported."""


@dataclass
class _Tally:
    exported: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=lambda: {"created": 0, "replaced": 0, "unchanged": 0})

    @property
    def rows(self) -> int:
        return sum(t["rows"] for t in self.exported)

    def result(self) -> dict[str, Any]:
        return {
            "tables_exported": len(self.exported),
            "tables_failed": len(self.failed),
            "rows_exported": self.rows,
            "documents_created": self.outcomes["created"],
            "documents_replaced": self.outcomes["replaced"],
            "documents_unchanged": self.outcomes["unchanged"],
            "tables": self.exported,
            "failures": self.failed,
        }


def jobs(deps: Deps) -> dict[str, JobHandler]:
    """Job type -> handler bound to this process's dependencies."""

    async def handler(envelope: EventEnvelope, ctx: JobContext) -> None:
        await export_tables(deps, envelope, ctx)

    return {ExportDatabaseTables.event_type: handler}


async def _progress(deps: Deps, task_id: uuid.UUID | None, status: TaskStatus, **values: Any) -> None:
    if task_id is not None:
        await report_progress(deps.db, shared.tasks, task_id, status=status, **values)


async def export_tables(deps: Deps, envelope: EventEnvelope, ctx: JobContext) -> None:
    """Handle one ExportDatabaseTables job."""
    job = ExportDatabaseTables.model_validate(envelope.data)
    async with deps.db.sessions() as session:
        connection = await connections.get_connection(
            session, job.database_connection_id, envelope.company_id
        )
        tables = await _tables(session, job) if connection is not None else []
    if connection is None:
        await _progress(deps, job.task_id, TaskStatus.COMPLETED, progress=100, stage="connection deleted",
                        result={"skipped": "the database connection was deleted"})
        return
    await _progress(deps, job.task_id, TaskStatus.RUNNING, progress=1, stage="connect")
    tally = _Tally()
    try:
        async with engine_spec(deps, connection) as spec:
            await _export(deps, job, connection, tables, spec, tally)
    except _ConnectionGone:
        await _progress(deps, job.task_id, TaskStatus.COMPLETED, progress=100, stage="connection deleted",
                        result={**tally.result(), "skipped": "the database connection was deleted"})
        return
    except KnowrithmError as exc:  # no key, an unreadable URL or parameters, a missing SQLite file
        await _progress(deps, job.task_id, TaskStatus.FAILED, stage="failed", error=exc.message)
        return
    except Exception:
        if ctx.final_attempt:
            logger.exception("export of database connection %s failed on its last attempt", connection.id)
            await _progress(deps, job.task_id, TaskStatus.FAILED, stage="failed", result=tally.result(),
                            error="The export failed because of an internal error; try again later")
        raise
    await _finish(deps, job, connection, tally)


async def _tables(session: Any, job: ExportDatabaseTables) -> list[DatabaseTable]:
    stmt = select(DatabaseTable).where(
        DatabaseTable.connection_id == job.database_connection_id,
        DatabaseTable.id.in_(job.table_ids),
        DatabaseTable.not_deleted(),
    )
    found = {t.id: t for t in await session.scalars(stmt)}
    return [found[i] for i in job.table_ids if i in found]


async def _read(
    deps: Deps, spec: ConnectionSpec, table: DatabaseTable,
    allowed: list[str], limit: int,
) -> tuple[list[str], list[list[Any]], bool]:
    engine = get_engine(spec.engine)
    allow = deps.settings.database_allowed()
    if spec.engine == "mongodb":
        bounded = check_pipeline(table.name, [], collections=allowed, limit=limit,
                                 max_time_ms=int(QUERY_TIMEOUT_S * 1000))
        # the engine appends its own $limit (one more than it keeps): the guard's is left out
        query: str | MongoQuery = MongoQuery(collection=bounded.collection, pipeline=bounded.pipeline[:-1])
    else:
        dialect = cast(Dialect, spec.engine)
        sql = select_all(dialect, table.schema_name or None, table.name, table.primary_key or [])
        # one row more than kept, so the engine can tell a table that has more (`truncated`)
        query = check_sql(sql, dialect=dialect, tables=allowed, limit=limit + 1).sql
    result = await engine.execute(spec, allow, query, limit=limit, timeout_s=QUERY_TIMEOUT_S)
    return result.columns, result.rows, result.truncated


def _allowed_names(tables: list[DatabaseTable]) -> list[str]:
    names: list[str] = []
    for t in tables:
        names.append(t.name)
        if t.schema_name:
            names.append(f"{t.schema_name}.{t.name}")
    return names


async def _export(
    deps: Deps, job: ExportDatabaseTables, connection: DatabaseConnection, tables: list[DatabaseTable],
    spec: ConnectionSpec, tally: _Tally,
) -> None:
    limit = min(job.limit_per_table or MAX_ROWS_PER_TABLE, MAX_ROWS_PER_TABLE)
    max_chars = min(MAX_DOCUMENT_CHARS, deps.settings.limits().max_text_chars)
    allowed = _allowed_names(tables)
    total = len(tables)
    for index, table in enumerate(tables, start=1):
        name = qualified(table.schema_name or None, table.name)
        await _progress(deps, job.task_id, TaskStatus.RUNNING, progress=1 + 98 * (index - 1) // total,
                        stage=f"table {index} of {total}: {name}")
        try:
            columns, rows, truncated = await _read(deps, spec, table, allowed, limit)
        except KnowrithmError as exc:  # refused, unreachable, failed or timed out: said on the task
            tally.failed.append({"table": name, "table_id": str(table.id), "error": exc.message})
            continue
        types = {
            str(c.get("name")): str(c.get("type") or "") for c in table.columns or [] if isinstance(c, dict)
        }
        rendered = render_table(
            connection_name=connection.name, schema=table.schema_name or None, table=table.name,
            columns=columns, rows=rows, column_types=types, primary_key=table.primary_key or [],
            summary=table.summary, truncated=truncated, max_chars=max_chars,
        )
        outcome, document_id = await _save(deps, connection, table, rendered.data)
        tally.outcomes[outcome] += 1
        tally.exported.append({
            "table": name, "table_id": str(table.id), "document_id": str(document_id), "rows": rendered.rows,
            "truncated": rendered.truncated, "document": outcome,
        })


async def _save(
    deps: Deps, connection: DatabaseConnection, table: DatabaseTable, data: bytes
) -> tuple[str, uuid.UUID]:
    session = deps.db.session()
    async with session:
        async with session.begin():
            live = await connections.get_connection(session, connection.id, connection.company_id, lock=True)
            if live is None:
                raise _ConnectionGone()
            saved = await save_table_document(session, deps.blobs, connection=live, table=table, data=data)
            document_id = saved.document.id
        await run_after_commit(session)
    return saved.outcome, document_id


async def _finish(
    deps: Deps, job: ExportDatabaseTables, connection: DatabaseConnection, tally: _Tally
) -> None:
    result = tally.result()
    failed = not tally.exported and bool(tally.failed)
    async with deps.db.session() as session, session.begin():
        event = DatabaseConnectionExportedV1(
            database_connection_id=connection.id, agent_id=connection.agent_id,
            tables_exported=len(tally.exported), tables_failed=len(tally.failed), rows_exported=tally.rows,
            documents_created=tally.outcomes["created"], documents_replaced=tally.outcomes["replaced"],
            documents_unchanged=tally.outcomes["unchanged"],
        )
        await outbox.add(session, event, company_id=connection.company_id)
    if failed:
        error = f"No table could be exported: {tally.failed[0]['table']}: {tally.failed[0]['error']}"
        await _progress(deps, job.task_id, TaskStatus.FAILED, progress=100, stage="failed", result=result,
                        error=error)
    else:
        await _progress(deps, job.task_id, TaskStatus.COMPLETED, progress=100, stage="completed",
                        result=result)
