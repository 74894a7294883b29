"""Response models of the semantic snapshot and the knowledge graph."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from knowrithm_ingestion.databases.semantics.graph import GraphEdge, GraphNode, KnowledgeGraph
from knowrithm_ingestion.databases.semantics.samples import SampleQuery
from knowrithm_ingestion.databases.semantics.snapshot import (
    ColumnMeaning,
    RelationMeaning,
    SemanticSnapshot,
    TableMeaning,
)
from knowrithm_ingestion.models import DatabaseConnection


class ConnectionRef(BaseModel):
    connection_id: uuid.UUID
    connection_name: str
    database_type: str
    analyzed_at: dt.datetime | None = Field(description="When the newest of the tables was stored")


class NodeOut(BaseModel):
    id: str = Field(description="`schema.name`, or `name` where the engine has no schema")
    table_id: uuid.UUID | None
    name: str
    schema_name: str = Field(serialization_alias="schema")
    row_estimate: int | None
    column_count: int
    primary_key: list[str]

    @classmethod
    def of(cls, node: GraphNode) -> NodeOut:
        return cls(
            id=node.id,
            table_id=uuid.UUID(node.table_id) if node.table_id else None,
            name=node.name,
            schema_name=node.schema,
            row_estimate=node.row_estimate,
            column_count=node.column_count,
            primary_key=list(node.primary_key),
        )


class EdgeOut(BaseModel):
    id: str
    source: str = Field(description="Node id of the referencing table")
    target: str = Field(description="Node id of the referenced table")
    columns: list[str]
    ref_columns: list[str]
    kind: Literal["foreign_key", "inferred"]
    confidence: float = Field(description="1.0 for a declared foreign key, 0.6-0.8 for an inferred join")

    @classmethod
    def of(cls, edge: GraphEdge) -> EdgeOut:
        return cls(
            id=edge.id,
            source=edge.source,
            target=edge.target,
            columns=list(edge.columns),
            ref_columns=list(edge.ref_columns),
            kind=edge.kind,
            confidence=edge.confidence,
        )


class KnowledgeGraphOut(ConnectionRef):
    nodes: list[NodeOut]
    edges: list[EdgeOut]
    node_count: int
    edge_count: int

    @classmethod
    def of(
        cls, connection: DatabaseConnection, graph: KnowledgeGraph, analyzed_at: dt.datetime | None
    ) -> KnowledgeGraphOut:
        return cls(
            **_ref(connection, analyzed_at),
            nodes=[NodeOut.of(n) for n in graph.nodes],
            edges=[EdgeOut.of(e) for e in graph.edges],
            node_count=len(graph.nodes),
            edge_count=len(graph.edges),
        )


class ColumnOut(BaseModel):
    name: str
    type: str
    role: str = Field(description="key, reference, name, date, amount, quantity, contact, flag or other")

    @classmethod
    def of(cls, column: ColumnMeaning) -> ColumnOut:
        return cls(name=column.name, type=column.type, role=column.role)


class TableSemanticsOut(BaseModel):
    id: str = Field(description="Node id in the knowledge graph")
    table_id: uuid.UUID | None
    name: str
    schema_name: str = Field(serialization_alias="schema")
    kind: Literal["entity", "link"]
    summary: str
    summary_source: Literal["structure", "stored"]
    row_estimate: int | None
    primary_key: list[str]
    columns: list[ColumnOut]
    references: list[str]
    referenced_by: list[str]

    @classmethod
    def of(cls, table: TableMeaning) -> TableSemanticsOut:
        return cls(
            id=table.key,
            table_id=uuid.UUID(table.table_id) if table.table_id else None,
            name=table.name,
            schema_name=table.schema,
            kind=table.kind,
            summary=table.summary,
            summary_source=table.summary_source,
            row_estimate=table.row_estimate,
            primary_key=list(table.primary_key),
            columns=[ColumnOut.of(c) for c in table.columns],
            references=list(table.references),
            referenced_by=list(table.referenced_by),
        )


class RelationOut(BaseModel):
    source: str
    target: str
    columns: list[str]
    ref_columns: list[str]
    kind: Literal["foreign_key", "inferred"]
    confidence: float
    description: str

    @classmethod
    def of(cls, relation: RelationMeaning) -> RelationOut:
        return cls(
            source=relation.source,
            target=relation.target,
            columns=list(relation.columns),
            ref_columns=list(relation.ref_columns),
            kind=relation.kind,
            confidence=relation.confidence,
            description=relation.description,
        )


class SemanticSnapshotOut(ConnectionRef):
    generated_from: Literal["structure"] = Field(
        "structure", description="This version describes tables from their structure (no language model)"
    )
    overview: str
    table_count: int
    tables: list[TableSemanticsOut]
    entities: list[str]
    link_tables: list[str]
    relations: list[RelationOut]

    @classmethod
    def of(
        cls, connection: DatabaseConnection, snapshot: SemanticSnapshot, analyzed_at: dt.datetime | None
    ) -> SemanticSnapshotOut:
        return cls(
            **_ref(connection, analyzed_at),
            overview=snapshot.overview,
            table_count=len(snapshot.tables),
            tables=[TableSemanticsOut.of(t) for t in snapshot.tables],
            entities=list(snapshot.entities),
            link_tables=list(snapshot.link_tables),
            relations=[RelationOut.of(r) for r in snapshot.relations],
        )


def _ref(connection: DatabaseConnection, analyzed_at: dt.datetime | None) -> dict[str, object]:
    return {
        "connection_id": connection.id,
        "connection_name": connection.name,
        "database_type": connection.database_type,
        "analyzed_at": analyzed_at,
    }


class SampleQueryOut(BaseModel):
    title: str
    description: str
    sql: str = Field(description="In the connection's dialect; it passed the guard and ran with LIMIT 5")
    tables: list[str] = Field(description="Node ids (`schema.name` or `name`) of the tables it reads")
    columns: list[str]
    rows: list[list[Any]] = Field(description="Its first rows (at most 5), as they came back")

    @classmethod
    def of(cls, query: SampleQuery) -> SampleQueryOut:
        return cls(
            title=query.title,
            description=query.description,
            sql=query.sql,
            tables=list(query.tables),
            columns=list(query.columns),
            rows=[list(r) for r in query.rows],
        )


class SampleQueriesOut(ConnectionRef):
    queries: list[SampleQueryOut]
    count: int
    note: str | None = Field(description="Why some or all candidates were not offered, if any were not")

    @classmethod
    def of(
        cls,
        connection: DatabaseConnection,
        queries: list[SampleQuery],
        note: str | None,
        analyzed_at: dt.datetime | None,
    ) -> SampleQueriesOut:
        return cls(
            **_ref(connection, analyzed_at),
            queries=[SampleQueryOut.of(q) for q in queries],
            count=len(queries),
            note=note,
        )
