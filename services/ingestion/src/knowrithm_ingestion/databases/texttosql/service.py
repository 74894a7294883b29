"""Text-to-SQL: a question about a company's database, answered by the agent's language model with
one query, which the guard checks and (when asked) `run_query` executes.

`text_to_sql` is the one way: the route `POST /database-connection/{id}/text-to-sql` and the
natural-language queries of `POST /search/database` both call it. The connection must be analysed
(409 `connection_not_analyzed`) and the agent must have a language model: the offline provider
cannot write SQL (422 `llm_required`). The tables shown to the model are chosen by `ranking`; the
prompt is `prompt.sql_prompt`. The model's SQL always passes the guard: a refusal is 422
`sql_refused` with `detail {reason, sql}`; with `execute` it runs read-only through `run_query`
(source "model", audited) and the rows come back (at most `result_limit`, ≤ 1,000). A provider
failure is 502 `llm_failed` (503 when trying again may help) with the provider's reason.
On a MongoDB connection the model writes one aggregation `{collection, pipeline}` instead, checked by
the pipeline guard (422 `pipeline_refused`, `detail {reason, sql}`) and run through `run_pipeline`;
`sql` is then that JSON and `dialect` "mongodb".
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.errors import AgentNotConfigured, Conflict, KnowrithmError, ValidationFailed
from knowrithm_common.events import Actor
from knowrithm_common.llm import Llm, LlmError, Prompt
from knowrithm_ingestion.agents.projection import get_agent, has_llm, llm_for
from knowrithm_ingestion.databases.analysis.service import active_tables
from knowrithm_ingestion.databases.guard import Dialect, SqlRefused, check_sql
from knowrithm_ingestion.databases.pipeline_guard import PipelineRefused, check_pipeline
from knowrithm_ingestion.databases.queries.service import active_tables as allowed_names
from knowrithm_ingestion.databases.queries.service import run_pipeline, run_query
from knowrithm_ingestion.databases.semantics.shapes import TableShape, table_key
from knowrithm_ingestion.databases.semantics.snapshot import summaries_of
from knowrithm_ingestion.databases.texttosql import ranking
from knowrithm_ingestion.databases.texttosql.prompt import (
    display_name,
    extract_pipeline,
    extract_sql,
    pipeline_prompt,
    sql_prompt,
)
from knowrithm_ingestion.embeddings.base import EmbeddingError, EmbeddingTask
from knowrithm_ingestion.models import AgentView, DatabaseConnection, DatabaseTable
from knowrithm_ingestion.pipeline.deps import Deps

logger = logging.getLogger(__name__)

MAX_RESULT_LIMIT = 1_000
QUERY_TIMEOUT_S = 30.0


class ConnectionNotAnalyzed(Conflict):
    code = "connection_not_analyzed"
    message = "The database connection has not been analysed yet: analyze it first, then ask again"


class LlmRequired(ValidationFailed):
    code = "llm_required"
    message = (
        "Text-to-SQL needs a language model, and this agent uses the offline provider: an admin should "
        "choose an LLM provider and model (Gemini or an OpenAI-compatible server) in the agent's settings"
    )




class LlmFailed(KnowrithmError):
    """The language model could not answer; the message is the provider's reason."""

    status_code, code, message = 502, "llm_failed", "The language model could not answer"

    def __init__(self, error: LlmError) -> None:
        super().__init__(error.reason, detail={"llm_error": error.code})
        if error.retryable:
            self.status_code = 503


class ModelPipelineRefused(PipelineRefused):
    """The pipeline guard refused the model's aggregation: the detail carries the reason and the pipeline."""

    def __init__(self, reason: str, pipeline: str) -> None:
        super().__init__(reason)
        self.detail = {"reason": reason, "sql": pipeline}


class ModelSqlRefused(SqlRefused):
    """The guard refused the model's SQL: the detail carries the reason and the SQL."""

    def __init__(self, reason: str, sql: str) -> None:
        super().__init__(reason)
        self.detail = {"reason": reason, "sql": sql}


@dataclass(frozen=True)
class TextToSqlResult:
    """The model's query (as the guard regenerated it) and, when executed, its rows."""

    connection_id: uuid.UUID
    question: str
    sql: str
    dialect: str
    tables: list[str]
    executed: bool = False
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    execution_time_ms: float | None = None

    @property
    def row_count(self) -> int:
        return len(self.rows)


async def text_to_sql(
    session: AsyncSession,
    deps: Deps,
    *,
    connection: DatabaseConnection,
    question: str,
    execute: bool,
    result_limit: int,
    actor: Actor | None,
) -> TextToSqlResult:
    """Ask the agent's language model for one query answering `question`; guard it, and run it when
    `execute` (at most `result_limit` rows, capped at 1,000)."""
    limit = max(1, min(int(result_limit), MAX_RESULT_LIMIT))
    tables = list(await active_tables(session, connection.id))
    if not tables:
        raise ConnectionNotAnalyzed()
    agent = await get_agent(session, company_id=connection.company_id, agent_id=connection.agent_id,
                            owner=deps.agents)
    if not has_llm(agent):
        raise LlmRequired()
    offered = await choose_tables(deps, agent, tables, question)
    summaries = _summaries(tables)
    shown = {t.id: summaries.get(table_key(t.schema_name, t.name), "") for t in offered}
    if connection.database_type == "mongodb":
        prompt = pipeline_prompt(tables=offered, summaries=shown, question=question, limit=limit)
        answer = await _ask(deps, agent, prompt)
        return await _pipeline(session, deps, connection, offered, question=question, answer=answer,
                               execute=execute, limit=limit, actor=actor)
    prompt = sql_prompt(dialect=connection.database_type, tables=offered, summaries=shown, question=question,
                        limit=limit)
    sql = extract_sql(await _ask(deps, agent, prompt))
    qualify = len({t.schema_name for t in offered}) > 1
    names = [display_name(t, qualify=qualify) for t in offered]
    result = TextToSqlResult(connection_id=connection.id, question=question, sql=sql,
                             dialect=connection.database_type, tables=names)
    dialect: Dialect = connection.database_type  # type: ignore[assignment]
    try:
        allowed = await allowed_names(session, connection.id)
        guarded = check_sql(sql, dialect=dialect, tables=allowed, limit=limit)
        if not execute:
            return _replace(result, sql=guarded.sql)
        ran = await run_query(session, deps, connection, sql, actor=actor, limit=limit,
                              timeout_s=QUERY_TIMEOUT_S, source="model")
    except SqlRefused as exc:
        raise ModelSqlRefused(exc.reason, sql) from exc
    return _replace(result, sql=guarded.sql, executed=True, columns=list(ran.columns),
                    rows=rows_as_dicts(ran.columns, ran.rows), truncated=ran.truncated,
                    execution_time_ms=ran.elapsed_ms)


async def _pipeline(
    session: AsyncSession, deps: Deps, connection: DatabaseConnection, offered: Sequence[DatabaseTable], *,
    question: str, answer: str, execute: bool, limit: int, actor: Actor | None,
) -> TextToSqlResult:
    """The model's aggregation on a MongoDB connection: read, guarded, and run when `execute`.
    `sql` is the pipeline as JSON `{collection, pipeline}`."""
    result = TextToSqlResult(connection_id=connection.id, question=question, sql=answer.strip(),
                             dialect="mongodb", tables=[t.name for t in offered])
    try:
        collection, pipeline = extract_pipeline(answer)
    except ValueError as exc:
        raise ModelPipelineRefused(f"the model's answer is not a pipeline ({exc})", answer.strip()) from exc
    text = json.dumps({"collection": collection, "pipeline": pipeline}, ensure_ascii=False, default=str)
    try:
        if not isinstance(pipeline, list):
            raise PipelineRefused("the pipeline must be a list of stages")
        allowed = await allowed_names(session, connection.id)
        guarded = check_pipeline(collection, pipeline, collections=allowed, limit=limit,
                                 max_time_ms=int(QUERY_TIMEOUT_S * 1000))
        bounded = {"collection": guarded.collection, "pipeline": guarded.pipeline}
        shown = json.dumps(bounded, ensure_ascii=False, default=str)
        if not execute:
            return _replace(result, sql=shown)
        ran = await run_pipeline(session, deps, connection, collection, pipeline, actor=actor, limit=limit,
                                 timeout_s=QUERY_TIMEOUT_S, source="model")
    except PipelineRefused as exc:
        raise ModelPipelineRefused(exc.reason, text) from exc
    return _replace(result, sql=shown, executed=True, columns=list(ran.columns),
                    rows=rows_as_dicts(ran.columns, ran.rows), truncated=ran.truncated,
                    execution_time_ms=ran.elapsed_ms)


def _replace(result: TextToSqlResult, **changes: Any) -> TextToSqlResult:
    return dataclasses.replace(result, **changes)


def _summaries(tables: Sequence[DatabaseTable]) -> dict[str, str]:
    return summaries_of([TableShape.of_row(t) for t in tables])


async def choose_tables(
    deps: Deps, agent: AgentView, tables: Sequence[DatabaseTable], question: str
) -> list[DatabaseTable]:
    """The tables nearest to the question by their summaries' embeddings, with their neighbours."""
    if len(tables) <= ranking.TOP_K:
        return list(tables)
    vector, model = None, None
    try:
        embedder = await deps.embedder_for(agent)
        try:
            [vector] = await embedder.embed([question], task=EmbeddingTask.QUERY)
            model = embedder.model
        finally:
            await embedder.aclose()
    except (EmbeddingError, AgentNotConfigured) as exc:  # ranking is a help: without it, every table
        logger.warning("text-to-SQL shows every table: the question could not be embedded (%s)", exc)
    return ranking.with_neighbours(ranking.rank(tables, vector, model), tables)


async def _ask(deps: Deps, agent: AgentView, prompt: Prompt) -> str:
    """The model's whole answer to `prompt`; `LlmFailed` when it cannot give one."""
    llm: Llm | None = None
    try:
        llm = await llm_for(deps, agent)
        parts = [delta.text async for delta in llm.stream(prompt)]
    except LlmError as exc:
        raise LlmFailed(exc) from exc
    finally:
        if llm is not None:
            await llm.aclose()
    return "".join(parts)


def rows_as_dicts(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows as objects keyed by column; a repeated column name gets `_2`, `_3` … after it."""
    keys: list[str] = []
    seen: dict[str, int] = {}
    for column in columns:
        seen[column] = seen.get(column, 0) + 1
        keys.append(column if seen[column] == 1 else f"{column}_{seen[column]}")
    return [dict(zip(keys, row, strict=False)) for row in rows]
