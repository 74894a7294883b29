"""Run one search query on a company's databases: SQL through the guard (`run_query`), a MongoDB
aggregate command through the pipeline guard (`run_pipeline`), words through text-to-SQL (the
agent's language model writes the SQL, which the guard checks and `run_query` runs).

Every active connection of the company (or the one named) gets the query; each answers its rows
(at most `ROWS_PER_CONNECTION`, as objects) or, when it refuses or fails, its error under its
name, so one database down does not fail the search. When the caller names one connection, its
failure is the request's: the guard's 422 `sql_refused`, 502 `database_unreachable`, 504
`database_query_timeout`, … Connections run at most `CONCURRENCY` at a time, each in its own
session and cut at `TIMEOUT_S`; those still running at `DEADLINE_S` are stopped and answer
`database_search_deadline`, so the search answers before the gateway gives up on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.errors import KnowrithmError
from knowrithm_common.events import Actor
from knowrithm_ingestion.databases.connections import repository as connections
from knowrithm_ingestion.databases.connections.service import get_connection
from knowrithm_ingestion.databases.queries.service import run_pipeline, run_query
from knowrithm_ingestion.databases.search.classify import Pipeline, kind_of, parse_pipeline
from knowrithm_ingestion.databases.texttosql.service import text_to_sql
from knowrithm_ingestion.models import DatabaseConnection
from knowrithm_ingestion.pipeline.deps import Deps

logger = logging.getLogger(__name__)

ROWS_PER_CONNECTION = 100
TIMEOUT_S = 10.0
CONCURRENCY = 4
DEADLINE_S = 25.0  # under the gateway's upstream timeout (30 s by default)

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Failure:
    """A connection's error in the answer (`{error, code}`)."""

    error: str
    code: str


@dataclass(frozen=True)
class SearchOutcome:
    results: dict[str, Rows | Failure]
    seconds: float


async def search_databases(
    session: AsyncSession,
    deps: Deps,
    *,
    company_id: uuid.UUID,
    query: str,
    connection_id: uuid.UUID | None,
    actor: Actor | None,
) -> SearchOutcome:
    """The query's rows (or error) per connection of the company, or of the one named."""
    started = time.perf_counter()
    kind = kind_of(query)
    statement: str | Pipeline = parse_pipeline(query) if kind == "pipeline" else query
    if connection_id is not None:
        connection = await get_connection(session, company_id, connection_id)
        rows = await _run(session, deps, connection, statement, question=kind == "question", actor=actor)
        return SearchOutcome({connection.name: rows}, time.perf_counter() - started)
    targets = await connections.active_connections(session, company_id)
    keys = result_keys(targets)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(connection: DatabaseConnection) -> Rows | Failure:
        async with gate, deps.db.session() as own:
            try:
                return await _run(own, deps, connection, statement, question=kind == "question", actor=actor)
            except KnowrithmError as error:
                return Failure(error.message, error.code)
            except Exception:  # a bug in one connection's path must not fail the others' answer
                logger.exception("database search failed on connection %s", connection.id)
                return Failure("The search failed on this connection", "database_search_failed")

    tasks = [asyncio.create_task(one(c)) for c in targets]
    if tasks:
        await asyncio.wait(tasks, timeout=DEADLINE_S)
    late = Failure(f"No answer within the search's {DEADLINE_S:g} s", "database_search_deadline")
    for task in tasks:
        task.cancel()  # no-op for the finished ones
    await asyncio.gather(*tasks, return_exceptions=True)
    answers = [late if t.cancelled() else t.result() for t in tasks]
    return SearchOutcome(dict(zip(keys, answers, strict=True)), time.perf_counter() - started)


async def _run(
    session: AsyncSession,
    deps: Deps,
    connection: DatabaseConnection,
    statement: str | Pipeline,
    *,
    question: bool,
    actor: Actor | None,
) -> Rows:
    if isinstance(statement, Pipeline):
        result = await run_pipeline(
            session, deps, connection, statement.collection, statement.stages, actor=actor,
            limit=ROWS_PER_CONNECTION, timeout_s=TIMEOUT_S, source="person",
        )
        return as_objects(result.columns, result.rows)
    if question:
        answer = await text_to_sql(
            session, deps, connection=connection, question=statement, execute=True,
            result_limit=ROWS_PER_CONNECTION, actor=actor,
        )
        return answer.rows
    result = await run_query(
        session, deps, connection, statement, actor=actor, limit=ROWS_PER_CONNECTION, timeout_s=TIMEOUT_S,
        source="person",
    )
    return as_objects(result.columns, result.rows)


def as_objects(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Rows:
    """Rows as objects keyed by column; a repeated column name gets `_2`, `_3`, … so none is lost."""
    keys: list[str] = []
    seen: Counter[str] = Counter()
    for column in columns:
        seen[column] += 1
        key = column if seen[column] == 1 else f"{column}_{seen[column]}"
        while key in keys:
            seen[column] += 1
            key = f"{column}_{seen[column]}"
        keys.append(key)
    return [dict(zip(keys, row, strict=False)) for row in rows]


def result_keys(targets: Sequence[DatabaseConnection]) -> list[str]:
    """Each connection's key in `results`: its name, or `name (id prefix)` when names collide
    (names are unique per agent, not per company)."""
    counts = Counter(c.name.lower() for c in targets)
    return [c.name if counts[c.name.lower()] == 1 else f"{c.name} ({str(c.id)[:8]})" for c in targets]
