"""The `query_database` tool: an agent answers from its company's own databases.

Offered when the agent's provider can call tools (`TOOL_PROVIDERS`: OpenAI-compatible, Gemini)
and ingestion's catalog (`rpc.ingestion.database.catalog.v1`) names at least one analysed
connection of the agent; the tool's description lists those connections (id, name, dialect) and
their tables (name, summary, columns with types), cut to `MAX_DESCRIPTION_CHARS`. A catalog that
cannot be read leaves the tool out (a warning is logged): the turn is answered from the documents
alone, never failed for it.

Each call goes to ingestion (`rpc.ingestion.database.query.v1`), which runs it through the SQL
guard, read-only and audited; at most `MAX_ROWS` rows come back, values cut to
`MAX_VALUE_CHARS`. The result goes back to the model fenced as data with the prompt's nonce,
numbered after the passages for citation; a refusal or failure goes back to the model the same
way as an error it can read (and may correct), never to the user.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter

from knowrithm_common.llm import TOOL_PROVIDERS
from knowrithm_common.llm.base import Tool, ToolCall
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.messaging.rpc import RpcFailed, RpcUnavailable, call
from knowrithm_common.queries import (
    DATABASE_CATALOG_SUBJECT,
    DATABASE_QUERY_SUBJECT,
    CatalogConnection,
    DatabaseCatalogReply,
    DatabaseCatalogRequest,
    DatabaseQueryReply,
    DatabaseQueryRequest,
)
from knowrithm_conversations.chat.prompt import DatabaseSource
from knowrithm_conversations.models import AgentView

logger = logging.getLogger(__name__)

TOOL_NAME = "query_database"
MAX_ROUNDS = 3  # times the model may call tools before it must answer
MAX_CALLS_PER_ROUND = 5
MAX_ROWS = 20
MAX_VALUE_CHARS = 200
MAX_DESCRIPTION_CHARS = 8_000
MAX_SQL_CHARS = 20_000
QUERY_TIMEOUT_S = 10.0

QUERIES = Counter("knowrithm_chat_database_queries_total", "query_database calls", ["outcome"])


async def load_catalog(
    nats: NatsConnection, agent: AgentView, *, timeout: float
) -> list[CatalogConnection]:
    """The agent's analysed connections, or none: a provider without tools, no connections, or a
    catalog that cannot be read now (logged; the turn goes on without the tool)."""
    if (agent.llm_provider or "offline") not in TOOL_PROVIDERS:
        return []
    request = DatabaseCatalogRequest(company_id=agent.company_id, agent_id=agent.agent_id)
    try:
        reply = await call(nats, DATABASE_CATALOG_SUBJECT, request, DatabaseCatalogReply, timeout=timeout)
    except (RpcUnavailable, RpcFailed) as exc:
        logger.warning("agent %s answers without its databases: the catalog failed (%s)", agent.agent_id, exc)
        return []
    except ValueError as exc:  # a reply that does not match the contract (pydantic's ValidationError)
        logger.warning("agent %s answers without its databases: unreadable catalog (%s)", agent.agent_id,
                       type(exc).__name__)
        return []
    return [c for c in reply.connections if c.tables]


def tool_of(connections: Sequence[CatalogConnection]) -> Tool:
    """The tool, its description listing the connections and their tables compactly."""
    lines = [
        "Run one read-only SQL SELECT on one of the company's databases and get its rows "
        f"(at most {MAX_ROWS}). Connections, each with its tables (columns: type) and what they hold:"
    ]
    for connection in connections:
        lines.append(
            f'- connection_id {connection.connection_id}: "{connection.name}", {connection.dialect} SQL'
        )
        for table in connection.tables:
            name = f"{table.schema_name}.{table.name}" if table.schema_name else table.name
            columns = ", ".join(f"{c.name}: {c.type}" for c in table.columns)
            summary = f" — {_cut(table.summary, 300)}" if table.summary else ""
            lines.append(f"  - {name}({columns}){summary}")
    description = "\n".join(lines)
    if len(description) > MAX_DESCRIPTION_CHARS:
        description = description[: MAX_DESCRIPTION_CHARS - 30].rsplit("\n", 1)[0] + "\n  - … (more tables)"
    return Tool(
        name=TOOL_NAME,
        description=description,
        parameters={
            "type": "object",
            "properties": {
                "connection_id": {"type": "string", "description": "the connection's id, as listed"},
                "sql": {"type": "string", "description": "one SELECT in the connection's dialect"},
            },
            "required": ["connection_id", "sql"],
        },
    )


class DatabaseTool:
    """Runs one answer's `query_database` calls; `sources` are the queries that ran (with or without rows)."""

    def __init__(
        self,
        nats: NatsConnection,
        agent: AgentView,
        connections: Sequence[CatalogConnection],
        *,
        first_number: int,
        nonce: str,
    ) -> None:
        self.nats, self.agent, self.nonce = nats, agent, nonce
        self.connections = {str(c.connection_id): c for c in connections}
        self.tool = tool_of(connections)
        self.first_number = first_number
        self.sources: list[DatabaseSource] = []
        self.calls = 0

    async def run(self, calls: Sequence[ToolCall]) -> list[str]:
        """One round's calls; the tool message content for each (fenced data or an error)."""
        results = []
        for position, tool_call in enumerate(calls):
            if position >= MAX_CALLS_PER_ROUND:
                results.append(self._error("too_many_calls",
                                           f"at most {MAX_CALLS_PER_ROUND} queries at once; ask again"))
                continue
            results.append(await self._run(tool_call))
        return results

    async def _run(self, tool_call: ToolCall) -> str:
        self.calls += 1
        if tool_call.name != TOOL_NAME:
            return self._error("unknown_tool", f"there is no tool {tool_call.name!r}; use {TOOL_NAME}")
        try:
            arguments = tool_call.parsed_arguments()
        except ValueError:
            return self._error("invalid_arguments", 'give {"connection_id": "…", "sql": "SELECT …"} as JSON')
        connection_id, sql = str(arguments.get("connection_id") or "").strip(), arguments.get("sql")
        try:
            connection_id = str(uuid.UUID(connection_id))
        except ValueError:
            pass  # not an id: not found below
        connection = self.connections.get(connection_id)
        if connection is None:
            known = ", ".join(self.connections)
            return self._error("connection_not_found",
                               f"no connection {connection_id!r}; use one of: {known}")
        if not isinstance(sql, str) or not sql.strip() or len(sql) > MAX_SQL_CHARS:
            return self._error("invalid_arguments", "sql must be one SELECT statement (as text)")
        request = DatabaseQueryRequest(
            company_id=self.agent.company_id, agent_id=self.agent.agent_id,
            connection_id=uuid.UUID(connection_id), sql=sql, limit=MAX_ROWS, timeout_s=QUERY_TIMEOUT_S,
        )
        try:
            reply = await call(self.nats, DATABASE_QUERY_SUBJECT, request, DatabaseQueryReply,
                               timeout=QUERY_TIMEOUT_S + 5)
        except RpcFailed as exc:
            QUERIES.labels("refused" if exc.code == "sql_refused" else "failed").inc()
            return self._error(exc.code, exc.message)
        except RpcUnavailable:
            QUERIES.labels("unavailable").inc()
            return self._error("database_unavailable", "the databases cannot be reached right now; "
                                                       "answer without them")
        QUERIES.labels("ok").inc()
        source = DatabaseSource(
            number=self.first_number + len(self.sources), connection_id=connection_id,
            connection_name=reply.connection_name, dialect=reply.dialect, tables=list(reply.tables),
            sql=sql, row_count=reply.row_count,
        )
        self.sources.append(source)
        return self._data(source, reply)

    def _data(self, source: DatabaseSource, reply: DatabaseQueryReply) -> str:
        rows = [[_cut_value(v) for v in row] for row in reply.rows[:MAX_ROWS]]
        more = "; the statement had more rows than these" if reply.truncated else ""
        body = "\n".join([
            f'result [{source.number}] from connection "{reply.connection_name}" ({reply.dialect}), '
            f"tables: {', '.join(reply.tables) or '-'}; {len(rows)} rows{more}",
            "columns: " + json.dumps(reply.columns, ensure_ascii=False),
            *(json.dumps(row, ensure_ascii=False, default=str) for row in rows),
        ])
        return self._fence(source.number, body)

    def _error(self, code: str, message: str) -> str:
        body = json.dumps({"error": code, "message": _cut(message, 1000)}, ensure_ascii=False)
        return self._fence(0, body)

    def _fence(self, number: int, body: str) -> str:
        # The nonce is the prompt's: a value cannot close the fence, whatever the database holds.
        return f"<<<DATA {number} {self.nonce}>>>\n{body}\n<<<END DATA {number} {self.nonce}>>>"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_value(value: Any) -> Any:
    return _cut(value, MAX_VALUE_CHARS) if isinstance(value, str) else value
