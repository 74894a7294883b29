"""HTTP API of what a connection's tables mean: the semantic snapshot and the knowledge graph
and the sample queries (routes beyond the spec that the seed README lists and the official SDK
calls).

Members read them (API keys need `read`). Another company's connection answers 404
`database_connection_not_found`; a connection without analysed tables 409 `database_not_analyzed`.
All are computed on each request from the stored table metadata, so they follow every analysis;
the sample queries are also run on each request (guarded, read-only, audited with source
"sample"), so a database that cannot be reached answers 502 `database_unreachable`.
"""

from __future__ import annotations

import uuid
from enum import Enum

from fastapi import APIRouter

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import CompanyRead
from knowrithm_ingestion.databases.semantics import service
from knowrithm_ingestion.databases.semantics.schemas import (
    KnowledgeGraphOut,
    SampleQueriesOut,
    SemanticSnapshotOut,
)
from knowrithm_ingestion.pipeline.deps import Dependencies

router = APIRouter()
TAGS: list[str | Enum] = ["Database Connections"]
PREFIX = "/api/v1/database-connection"


@router.get(
    f"{PREFIX}/{{connection_id}}/semantic-snapshot",
    response_model=SemanticSnapshotOut,
    tags=TAGS,
    responses=errors(404, 409),
)
async def semantic_snapshot(
    connection_id: uuid.UUID, session: Session, subject: CompanyRead
) -> SemanticSnapshotOut:
    """What each table holds, in words (its stored summary, or one built from its structure), the
    entities and link tables, and the relations between them."""
    connection, snapshot, analyzed_at = await service.semantic_snapshot(
        session, subject.company_id, connection_id
    )
    return SemanticSnapshotOut.of(connection, snapshot, analyzed_at)


@router.get(
    f"{PREFIX}/{{connection_id}}/knowledge-graph",
    response_model=KnowledgeGraphOut,
    tags=TAGS,
    responses=errors(404, 409),
)
async def knowledge_graph(
    connection_id: uuid.UUID, session: Session, subject: CompanyRead
) -> KnowledgeGraphOut:
    """Tables as nodes; declared foreign keys (confidence 1.0) and inferred `<table>_id` joins
    (0.6-0.8) as edges, in a stable order."""
    connection, graph, analyzed_at = await service.knowledge_graph(session, subject.company_id, connection_id)
    return KnowledgeGraphOut.of(connection, graph, analyzed_at)


@router.get(
    f"{PREFIX}/{{connection_id}}/sample-queries",
    response_model=SampleQueriesOut,
    tags=TAGS,
    responses=errors(404, 409, 502),
)
async def sample_queries(
    connection_id: uuid.UUID, session: Session, subject: CompanyRead, deps: Dependencies
) -> SampleQueriesOut:
    """Queries built from the analysed structure (first rows, row counts, joins along the knowledge
    graph, totals of amount columns, rows per month), each checked by the guard and run with a
    limit of 5 before it is offered, with its first rows; at most 20. MongoDB: none, with a note."""
    connection, queries, note, analyzed_at = await service.sample_queries(
        session, deps, subject.company_id, connection_id, actor=subject.actor
    )
    return SampleQueriesOut.of(connection, queries, note, analyzed_at)
