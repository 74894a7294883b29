"""The semantics use cases: a connection's analysed tables read once, then the pure functions."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.errors import Conflict
from knowrithm_common.events import Actor
from knowrithm_ingestion.databases.connections import service as connections
from knowrithm_ingestion.databases.semantics import repository as repo
from knowrithm_ingestion.databases.semantics.graph import KnowledgeGraph, build_graph
from knowrithm_ingestion.databases.semantics.samples import SampleQuery
from knowrithm_ingestion.databases.semantics.samples import sample_queries as run_samples
from knowrithm_ingestion.databases.semantics.shapes import TableShape, shapes_of
from knowrithm_ingestion.databases.semantics.snapshot import SemanticSnapshot, build_snapshot
from knowrithm_ingestion.models import DatabaseConnection
from knowrithm_ingestion.pipeline.deps import Deps


class DatabaseNotAnalyzed(Conflict):
    code = "database_not_analyzed"
    message = "The database connection has no analysed tables yet: analyze it first"


async def _analysed(
    session: AsyncSession, company_id: uuid.UUID | None, connection_id: uuid.UUID
) -> tuple[DatabaseConnection, Sequence[TableShape], dt.datetime | None]:
    """The live connection of the company (404 otherwise), its live tables' shapes (409 when
    there are none) and when the newest of them was stored."""
    connection = await connections.get_connection(session, company_id, connection_id)
    rows = await repo.live_tables(session, connection)
    if not rows:
        raise DatabaseNotAnalyzed()
    return connection, shapes_of(rows), max(r.updated_at for r in rows)


async def knowledge_graph(
    session: AsyncSession, company_id: uuid.UUID | None, connection_id: uuid.UUID
) -> tuple[DatabaseConnection, KnowledgeGraph, dt.datetime | None]:
    """The knowledge graph of a connection's analysed tables."""
    connection, shapes, analyzed_at = await _analysed(session, company_id, connection_id)
    return connection, build_graph(shapes), analyzed_at


async def semantic_snapshot(
    session: AsyncSession, company_id: uuid.UUID | None, connection_id: uuid.UUID
) -> tuple[DatabaseConnection, SemanticSnapshot, dt.datetime | None]:
    """The semantic snapshot of a connection's analysed tables."""
    connection, shapes, analyzed_at = await _analysed(session, company_id, connection_id)
    return connection, build_snapshot(shapes), analyzed_at


async def sample_queries(
    session: AsyncSession,
    deps: Deps,
    company_id: uuid.UUID | None,
    connection_id: uuid.UUID,
    *,
    actor: Actor | None,
) -> tuple[DatabaseConnection, list[SampleQuery], str | None, dt.datetime | None]:
    """The sample queries of a connection's analysed tables, each one run before it is offered."""
    connection, shapes, analyzed_at = await _analysed(session, company_id, connection_id)
    queries, note = await run_samples(session, deps, connection, shapes, actor=actor)
    return connection, queries, note, analyzed_at
