"""Request and answer of `POST /api/v1/search/database` (the spec's fields)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from knowrithm_common.schemas import Body

# Ids come as JSON strings: accepted although the body is strict.
Id = Annotated[uuid.UUID, Field(strict=False)]
MAX_QUERY_CHARS = 20_000


class DatabaseSearchIn(Body):
    """The spec's body (`query`, `connection_id`), and a super admin's `company_id`."""

    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description='SQL (run through the guard), a MongoDB aggregate command as JSON ({"aggregate": '
        '"<collection>", "pipeline": [...]}) or a question in words (text-to-SQL)',
        examples=["SELECT * FROM customers LIMIT 10"],
    )
    connection_id: Id | None = Field(None, description="Only this connection (default: every active one)")
    company_id: Id | None = Field(None, description="Super admins: the company whose databases to search")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must not be blank")
        return value


class ConnectionFailure(BaseModel):
    """Why one connection gave no rows (the others still answer)."""

    error: str
    code: str


class DatabaseSearchOut(BaseModel):
    query: str = Field(description="The query as sent")
    results: dict[str, list[dict[str, Any]] | ConnectionFailure] = Field(
        description="Per connection name (`name (id prefix)` when names collide): its rows as objects "
        "(at most 100), or `{error, code}`"
    )
    execution_time: float = Field(description="Seconds the whole search took")
