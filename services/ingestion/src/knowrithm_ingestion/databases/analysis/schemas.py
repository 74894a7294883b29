"""Request and response models of analyses and tables (field names as the reference API's:
`table_name`, `schema_name`, `columns_info`, `row_count`, `table_type`, `table_size`, `last_analyzed`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field

from knowrithm_common.pagination import Pagination
from knowrithm_common.schemas import Body
from knowrithm_ingestion.models import DatabaseConnection, DatabaseTable

Id = Annotated[uuid.UUID, Field(strict=False)]


class AnalyzeAll(Body):
    agent_id: Id | None = Field(None, description="Only this agent's connections (default: every one)")


class TableOut(BaseModel):
    id: uuid.UUID
    database_connection_id: uuid.UUID
    agent_id: uuid.UUID
    table_name: str
    schema_name: str | None
    table_type: str = Field(description="TABLE, or COLLECTION for MongoDB")
    columns_info: list[dict[str, Any]] = Field(
        description="Each column: name, type, nullable, primary_key, comment"
    )
    primary_key: list[str]
    foreign_keys: list[dict[str, Any]] = Field(description="columns, ref_table, ref_columns, ref_schema")
    row_count: int | None = Field(description="Exact for tables counted in time, else the engine's estimate")
    sample_rows: list[dict[str, Any]] = Field(
        description="A few rows; long values cut, e-mail addresses and phone numbers masked"
    )
    summary: str | None
    comment: str | None = Field(None, description="The table's own comment in its database")
    table_size: int | None = Field(
        None, description="Bytes on disk with its indexes, where the engine tells (None: unknown)"
    )
    is_active: bool
    last_analyzed: dt.datetime = Field(
        description="When an analysis of its connection last completed (changed or not)"
    )
    created_at: dt.datetime
    updated_at: dt.datetime = Field(description="When an analysis last changed what is known of the table")
    deleted_at: dt.datetime | None

    @classmethod
    def of(
        cls,
        row: DatabaseTable,
        *,
        database_type: str | None = None,
        last_analyzed: dt.datetime | None = None,
    ) -> TableOut:
        """`last_analyzed`: the connection's last completed analysis (the table's `updated_at` if unknown)."""
        return cls(
            id=row.id,
            database_connection_id=row.connection_id,
            agent_id=row.agent_id,
            table_name=row.name,
            schema_name=row.schema_name or None,
            table_type="COLLECTION" if database_type == "mongodb" else "TABLE",
            columns_info=row.columns,
            primary_key=row.primary_key,
            foreign_keys=row.foreign_keys,
            row_count=row.row_estimate,
            sample_rows=row.sample_rows,
            summary=row.summary,
            comment=row.comment,
            table_size=row.size_bytes,
            is_active=row.deleted_at is None,
            last_analyzed=last_analyzed or row.updated_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            deleted_at=row.deleted_at,
        )


class ConnectionBrief(BaseModel):
    id: uuid.UUID
    name: str
    database_type: str
    is_active: bool
    last_tested: dt.datetime | None
    test_result: str | None
    last_analyzed: dt.datetime | None = Field(None, description="When an analysis of it last completed")
    created_at: dt.datetime

    @classmethod
    def of(cls, row: DatabaseConnection) -> ConnectionBrief:
        return cls(
            id=row.id,
            name=row.name,
            database_type=row.database_type,
            is_active=row.deleted_at is None,
            last_tested=row.last_tested,
            test_result=row.test_result,
            last_analyzed=row.last_analyzed_at,
            created_at=row.created_at,
        )


class TableList(BaseModel):
    connection: ConnectionBrief
    tables: list[TableOut]
    pagination: Pagination


class TableOne(BaseModel):
    table: TableOut


class DeletedTables(BaseModel):
    deleted_tables: list[TableOut]
    pagination: Pagination


class TableDeleted(BaseModel):
    message: str = "Database table deleted"
    table_id: uuid.UUID


class TablesDeleted(BaseModel):
    message: str = "Database tables deleted"
    database_connection_id: uuid.UUID
    deleted_tables_count: int


class TableRestored(BaseModel):
    message: str = "Database table restored"
    table: TableOut
