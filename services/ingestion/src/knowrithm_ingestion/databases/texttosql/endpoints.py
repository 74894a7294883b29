"""HTTP API of text-to-SQL: `POST /api/v1/database-connection/{connection_id}/text-to-sql` (the SDK's
`text_to_sql`; beyond the reference spec, listed in the seed README). Members and API keys with
`read` ask; another company's connection answers 404."""

from __future__ import annotations

import uuid
from enum import Enum

from fastapi import APIRouter

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import CompanyRead
from knowrithm_ingestion.databases.connections.service import get_connection
from knowrithm_ingestion.databases.texttosql.schemas import TextToSqlBody, TextToSqlOut
from knowrithm_ingestion.databases.texttosql.service import text_to_sql as run
from knowrithm_ingestion.pipeline.deps import Dependencies

router = APIRouter()
TAGS: list[str | Enum] = ["Database Connections"]
PREFIX = "/api/v1/database-connection"


@router.post(
    f"{PREFIX}/{{connection_id}}/text-to-sql",
    response_model=TextToSqlOut,
    tags=TAGS,
    responses=errors(404, 409, 422, 502, 503, 504),
)
async def text_to_sql(
    connection_id: uuid.UUID, body: TextToSqlBody, session: Session, subject: CompanyRead, deps: Dependencies
) -> TextToSqlOut:
    """Turn a question into one read-only SQL query with the agent's language model, from the tables
    nearest to it; checked by the guard, and run (at most `result_limit` rows) when `execute`."""
    connection = await get_connection(session, subject.company_id, connection_id)
    result = await run(session, deps, connection=connection, question=body.question, execute=body.execute,
                       result_limit=body.result_limit, actor=subject.actor)
    return TextToSqlOut.of(result)
