"""The AnalyzeDatabaseConnections job: for each connection, connect, reflect, then for each allowed
table sample a few rows (masked) and count its rows, describe the tables (the agent's language
model for new or changed ones, `summaries`) and embed the descriptions, and store what changed
(`service.store_analysis`) with each table's summary document (`documents`). The task reports
percent and stage as it goes ("connect", "reflect", "sample table 3 of 11: customer", "count table
3 of 11: customer", "summaries", "embeddings", "store", "done"); the language model's failures are
`warnings` in the connection's result, not a failed analysis.

Nothing is written until a connection's whole analysis succeeded, in one short transaction, so
a redelivered job simply runs again. One connection: a failure fails the task with a reason a
person can read (the engines' messages never carry the password). Several (`analyze all`): each
connection's outcome is in the task's result, and the task completes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from knowrithm_common.db.session import run_after_commit
from knowrithm_common.errors import KnowrithmError
from knowrithm_common.events import Actor, EventEnvelope
from knowrithm_common.events.ingestion import AnalyzeDatabaseConnections
from knowrithm_common.messaging.jobs import JobContext
from knowrithm_common.tasks import TaskStatus, report_progress
from knowrithm_ingestion.agents.projection import get_agent
from knowrithm_ingestion.databases.analysis import service, summaries
from knowrithm_ingestion.databases.analysis.documents import sync_summary_documents
from knowrithm_ingestion.databases.analysis.masking import SAMPLE_ROWS, mask_rows
from knowrithm_ingestion.databases.analysis.service import AnalysedTable
from knowrithm_ingestion.databases.connections import repository as connections
from knowrithm_ingestion.databases.connections.engine_spec import engine_spec
from knowrithm_ingestion.databases.engines import (
    ConnectionSpec,
    DatabaseEngine,
    DatabaseQueryFailed,
    DatabaseQueryTimeout,
    TableInfo,
    get_engine,
)
from knowrithm_ingestion.databases.semantics.shapes import table_key
from knowrithm_ingestion.models import AgentView, DatabaseConnection, DatabaseTable, shared
from knowrithm_ingestion.pipeline.deps import Deps

logger = logging.getLogger(__name__)

COUNT_BELOW = 5_000_000  # tables estimated smaller than this are counted exactly
COUNT_TIMEOUT_S = 5.0


class AnalysisFailed(Exception):
    """A connection could not be analysed; `reason` is for the person who asked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Progress:
    """Reports one connection's share (`start`..`start + span` percent) of the task."""

    deps: Deps
    task_id: uuid.UUID | None
    start: float = 0
    span: float = 100
    prefix: str = ""

    async def __call__(self, fraction: float, stage: str) -> None:
        if self.task_id is not None:
            percent = int(self.start + self.span * fraction)
            await report_progress(
                self.deps.db,
                shared.tasks,
                self.task_id,
                status=TaskStatus.RUNNING,
                progress=min(percent, 99),
                stage=(self.prefix + stage)[:100],
            )


async def analyze_connections(deps: Deps, envelope: EventEnvelope, ctx: JobContext) -> None:
    """Handle one AnalyzeDatabaseConnections job."""
    job = AnalyzeDatabaseConnections.model_validate(envelope.data)
    total = len(job.connection_ids)
    outcomes: list[dict[str, Any]] = []
    try:
        for i, connection_id in enumerate(job.connection_ids):
            progress = Progress(
                deps,
                job.task_id,
                start=100 * i / total,
                span=100 / total,
                prefix=f"connection {i + 1} of {total}: " if job.bulk else "",
            )
            try:
                outcome = await analyze_one(
                    deps, envelope.company_id, connection_id, progress, envelope.actor
                )
            except AnalysisFailed as exc:
                if not job.bulk:
                    await _finish(deps, job.task_id, TaskStatus.FAILED, stage="failed", error=exc.reason)
                    return
                outcome = {"connection_id": str(connection_id), "status": "failed", "error": exc.reason}
            outcomes.append(outcome)
    except Exception:
        if ctx.final_attempt:
            logger.exception("database analysis failed")
            await _finish(
                deps,
                job.task_id,
                TaskStatus.FAILED,
                stage="failed",
                error="The analysis failed unexpectedly; try again later",
            )
        raise
    result: dict[str, Any] = {"connections": outcomes} if job.bulk else outcomes[0]
    await _finish(deps, job.task_id, TaskStatus.COMPLETED, stage="done", result=result)


async def _finish(deps: Deps, task_id: uuid.UUID | None, status: TaskStatus, **state: Any) -> None:
    if task_id is not None:
        progress = 100 if status is TaskStatus.COMPLETED else None
        await report_progress(deps.db, shared.tasks, task_id, status=status, progress=progress, **state)


async def analyze_one(
    deps: Deps, company_id: uuid.UUID | None, connection_id: uuid.UUID, progress: Progress, actor: Actor
) -> dict[str, Any]:
    """Analyse one connection and store what changed; its outcome for the task's result."""
    async with deps.db.sessions() as session:
        connection = await connections.get_connection(session, connection_id, company_id)
    if connection is None:
        return {
            "connection_id": str(connection_id),
            "status": "skipped",
            "reason": "the database connection was deleted",
        }
    await progress(0.02, "connect")
    try:
        async with engine_spec(deps, connection) as spec:
            tables = await _read(spec, deps.settings.database_allowed(), progress)
    except KnowrithmError as exc:  # no key, an unreadable URL or parameters, a missing SQLite file
        raise AnalysisFailed(exc.message) from exc
    await progress(0.80, "summaries")
    async with deps.db.sessions() as session:
        agent = await _agent(session, deps, connection)
        prior = {key: summaries.Prior.of(row) for key, row in (await _stored(session, connection_id)).items()}
    described = await summaries.describe(deps, agent, tables, prior)
    if agent is None:
        described.warnings.append("The connection's agent is unknown here: tables are described from their "
                                  "structure and not embedded")
    await progress(0.90, "embeddings")
    tables = await summaries.embed(deps, agent, described, prior)
    await progress(0.95, "store")
    session = deps.db.sessions()
    async with session:
        async with session.begin():
            live = await connections.get_connection(session, connection_id, company_id, lock=True)
            if live is None:
                return {
                    "connection_id": str(connection_id),
                    "status": "skipped",
                    "reason": "the database connection was deleted",
                }
            stored = await service.store_analysis(session, live, tables, actor=actor)
            await sync_summary_documents(session, deps.blobs, live, described.texts, actor=actor)
        await run_after_commit(session)
    outcome: dict[str, Any] = {
        "connection_id": str(connection_id),
        "status": "completed",
        "table_count": stored.table_count,
        "tables_added": stored.added,
        "tables_changed": stored.changed,
        "tables_removed": stored.removed,
        "tables_summarized": len(described.asked),
    }
    if described.warnings:
        outcome["warnings"] = described.warnings
    return outcome


async def _agent(session: Any, deps: Deps, connection: DatabaseConnection) -> AgentView | None:
    """The connection's agent as ingestion knows it (None when it is unknown or deleted)."""
    try:
        return await get_agent(session, company_id=connection.company_id, agent_id=connection.agent_id,
                               owner=deps.agents)
    except KnowrithmError:
        return None


async def _stored(session: Any, connection_id: uuid.UUID) -> dict[str, DatabaseTable]:
    """The connection's stored tables (deleted ones too) by node id, unlocked."""
    rows = await session.scalars(select(DatabaseTable).where(DatabaseTable.connection_id == connection_id))
    return {table_key(r.schema_name, r.name): r for r in rows}


async def _read(spec: ConnectionSpec, allow: list[str], progress: Progress) -> list[AnalysedTable]:
    try:
        engine = get_engine(spec.engine)
        probe = await engine.probe(spec, allow)
        if not probe.reachable:
            raise AnalysisFailed(f"The database could not be reached: {probe.error or 'no answer'}")
        await progress(0.05, "reflect")
        reflected = await engine.reflect(spec, allow)
        await progress(0.10, "sample")
        analysed = []
        for i, table in enumerate(reflected, start=1):
            where = f"table {i} of {len(reflected)}: {table.name}"
            await progress(0.10 + 0.70 * (i - 1) / max(len(reflected), 1), f"sample {where}")
            rows = await engine.sample(spec, allow, table.name, SAMPLE_ROWS, schema=table.schema)
            await progress(0.10 + 0.70 * (i - 0.5) / max(len(reflected), 1), f"count {where}")
            count = await _count(engine, spec, allow, table)
            analysed.append(_analysed(table, rows, count))
        return analysed
    except KnowrithmError as exc:  # the engines' refusals, unreachable servers, failed queries
        raise AnalysisFailed(exc.message) from exc


async def _count(
    engine: DatabaseEngine, spec: ConnectionSpec, allow: list[str], table: TableInfo
) -> int | None:
    """The exact row count of a table estimated small (the estimate otherwise, or if counting is slow)."""
    if spec.engine in ("sqlite", "mongodb") or table.kind != "table":
        return table.row_estimate  # SQLite's reflection counts exactly; MongoDB's estimate is its count
    if table.row_estimate is not None and table.row_estimate >= COUNT_BELOW:
        return table.row_estimate
    quote = "`" if spec.engine == "mysql" else '"'
    names = [n for n in (table.schema, table.name) if n]
    name = ".".join(quote + n.replace(quote, quote * 2) + quote for n in names)
    try:
        result = await engine.execute(
            spec,
            allow,
            f"SELECT count(*) FROM {name}",  # noqa: S608 - quoted identifiers
            limit=1,
            timeout_s=COUNT_TIMEOUT_S,
        )
    except (DatabaseQueryTimeout, DatabaseQueryFailed):
        return table.row_estimate
    return int(result.rows[0][0]) if result.rows else table.row_estimate


def _analysed(table: TableInfo, rows: list[dict[str, Any]], count: int | None) -> AnalysedTable:
    columns = [
        {
            "name": c.name,
            "type": c.type,
            "nullable": c.nullable,
            "primary_key": c.primary_key,
            "comment": c.comment,
        }
        for c in table.columns
    ]
    foreign_keys = [
        {
            "columns": fk.columns,
            "ref_table": fk.ref_table,
            "ref_columns": fk.ref_columns,
            "ref_schema": fk.ref_schema,
        }
        for fk in table.foreign_keys
    ]
    values = {
        "columns": columns,
        "primary_key": list(table.primary_key),
        "foreign_keys": foreign_keys,
        "row_estimate": count,
        "sample_rows": mask_rows(rows),
    }
    return AnalysedTable(name=table.name, schema=table.schema or "", values=values)


# Connection parameters the engines take; `allow`/`prefer` TLS modes are the drivers' default.
