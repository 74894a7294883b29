"""Text-to-SQL's request and answer (the SDK sends `{question, execute?, result_limit?}`)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from knowrithm_common.schemas import Body
from knowrithm_ingestion.databases.texttosql.service import MAX_RESULT_LIMIT, TextToSqlResult


class TextToSqlBody(Body):
    question: str = Field(min_length=1, max_length=2000, description="The question, in words")
    execute: bool = Field(False, description="Run the query and return its rows (else the SQL only)")
    result_limit: int = Field(100, ge=1, le=MAX_RESULT_LIMIT, description="The most rows returned")


class TextToSqlOut(BaseModel):
    connection_id: uuid.UUID
    question: str
    sql: str = Field(description="The model's query as the guard regenerated it (its LIMIT clamped)")
    dialect: str
    tables: list[str] = Field(description="The tables the model was shown")
    executed: bool
    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int
    truncated: bool = Field(description="The query had more rows than result_limit")
    execution_time_ms: float | None

    @classmethod
    def of(cls, result: TextToSqlResult) -> TextToSqlOut:
        return cls(
            connection_id=result.connection_id, question=result.question, sql=result.sql,
            dialect=result.dialect, tables=result.tables, executed=result.executed, columns=result.columns,
            rows=result.rows, row_count=result.row_count, truncated=result.truncated,
            execution_time_ms=result.execution_time_ms,
        )
