"""Request and answer of `POST /api/v1/database-connection/export`."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from knowrithm_common.schemas import Body

# Ids come as JSON strings: accepted although the body is strict.
Id = Annotated[uuid.UUID, Field(strict=False)]


class ExportRequest(Body):
    """The spec's body (`connection_id`, `limit_per_table`), with an optional choice of tables."""

    connection_id: Id = Field(description="Database connection ID")
    limit_per_table: int | None = Field(
        None, ge=1, le=10_000, description="Rows per table at most (10,000 when not given, and never more)"
    )
    table_ids: list[Id] | None = Field(
        None, min_length=1, max_length=500, description="Only these tables (ids from the tables list)"
    )
    table_names: list[str] | None = Field(
        None, min_length=1, max_length=500, description="Only these tables, by name or schema.name"
    )


class ExportAccepted(BaseModel):
    status: str = "accepted"
    task_id: uuid.UUID
    message: str
    status_url: str
    connection_id: uuid.UUID
    tables: list[str] = Field(description="The tables being exported (schema.name)")
