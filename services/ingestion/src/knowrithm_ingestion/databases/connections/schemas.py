"""Request and response models of the database connections API (field names as the reference
API's; `url` and `connection_string` are one field, and `database_type` takes aliases)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field

from knowrithm_common.pagination import Pagination
from knowrithm_common.schemas import Body, PatchBody
from knowrithm_ingestion.models import DatabaseConnection
from knowrithm_ingestion.schemas import RowOut

Name = Field(min_length=1, max_length=100)
# Ids come as JSON strings: accepted although the bodies are strict.
Id = Annotated[uuid.UUID, Field(strict=False)]
TYPES = "postgresql (or postgres), cockroachdb, mysql (or mariadb), sqlite, mongodb, mssql"


class ConnectionCreate(Body):
    name: str = Name
    database_type: str = Field(max_length=40, description=TYPES)
    url: str | None = Field(
        None,
        max_length=4096,
        validation_alias=AliasChoices("url", "connection_string"),
        description="The database URL (encrypted at rest); not for sqlite, which takes a file",
    )
    agent_id: Id
    connection_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Only sslmode, ssl_ca (PEM), connect_timeout (1-30 s), schemas and tables (allow-lists)",
    )
    pool_size: int = Field(5, ge=1, le=20)
    max_overflow: int = Field(10, ge=0, le=20)
    company_id: Id | None = Field(None, description="Super admins: the company (default: the agent's)")
    user_id: Id | None = Field(None, description="Accepted for the official SDK; the caller is recorded")


class ConnectionUpdate(PatchBody):
    not_null = (
        "name",
        "database_type",
        "url",
        "agent_id",
        "connection_params",
        "pool_size",
        "max_overflow",
        "is_active",
    )

    name: str | None = Field(None, min_length=1, max_length=100)
    database_type: str | None = Field(None, max_length=40, description=TYPES)
    url: str | None = Field(
        None,
        max_length=4096,
        validation_alias=AliasChoices("url", "connection_string"),
        description="A new database URL (`connection_string` is the same field)",
    )
    agent_id: Id | None = Field(None, description="Move the connection to another agent of the company")
    connection_params: dict[str, Any] | None = None
    pool_size: int | None = Field(None, ge=1, le=20)
    max_overflow: int | None = Field(None, ge=0, le=20)
    is_active: bool | None = Field(None, description="false soft-deletes the connection (as DELETE does)")


class ConnectionOut(RowOut):
    id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID
    user_id: uuid.UUID | None
    name: str
    database_type: str
    url: str | None = Field(description="The URL with its password masked (***); None for sqlite")
    host: str | None
    port: int | None
    database: str | None
    username: str | None
    connection_params: dict[str, Any]
    pool_size: int
    max_overflow: int
    sqlite_filename: str | None
    sqlite_size: int | None
    is_active: bool
    last_tested: dt.datetime | None
    test_status: str | None
    test_result: str | None
    last_analyzed: dt.datetime | None = Field(
        None, description="When an analysis of it last completed (changed or not); None: never analysed"
    )
    created_at: dt.datetime
    updated_at: dt.datetime = Field(description="When the connection last changed")
    deleted_at: dt.datetime | None

    @classmethod
    def of_connection(cls, row: DatabaseConnection) -> ConnectionOut:
        return cls.of(
            row, url=row.url_masked, database=row.database_name, last_analyzed=row.last_analyzed_at
        )


class ConnectionCreated(BaseModel):
    message: str = "Database connection created successfully"
    connection: ConnectionOut
    is_active: bool = True
    test_result: str | None = Field(None, description="None until the connection is tested")


class ConnectionOne(BaseModel):
    connection: ConnectionOut


class ConnectionUpdated(BaseModel):
    success: bool = True
    message: str
    data: ConnectionOut


class ConnectionList(BaseModel):
    connection: list[ConnectionOut]
    pagination: Pagination


class DeletedConnections(BaseModel):
    deleted_connections: list[ConnectionOut]
    pagination: Pagination


class ConnectionDeleted(BaseModel):
    message: str = "Database connection deleted"
    connection_id: uuid.UUID
    deleted_tables_count: int


class ConnectionRestored(BaseModel):
    message: str = "Database connection restored"
    connection: ConnectionOut
    restored_tables_count: int
