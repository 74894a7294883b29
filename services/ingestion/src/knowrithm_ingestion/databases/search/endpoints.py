"""HTTP API of `POST /api/v1/search/database` (the spec's "Search user's databases").

Who: members of the company with a user's token, and API keys with `write` (the official SDK:
"requires write scope or JWT"); the statement runs read-only whoever sends it. A super admin
names the company (`company_id` in the body or the query), else 400 `company_id_required`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import MEMBERS, Subject, subject_dependency
from knowrithm_ingestion.databases.search import service
from knowrithm_ingestion.databases.search.schemas import (
    ConnectionFailure,
    DatabaseSearchIn,
    DatabaseSearchOut,
)
from knowrithm_ingestion.pipeline.deps import Dependencies

router = APIRouter(tags=["Search"])

# Members (any role) with a token; API keys need `write` (a search that runs statements).
CompanyQuery = Annotated[Subject, Depends(subject_dependency(MEMBERS, "write"))]


@router.post(
    "/api/v1/search/database", response_model=DatabaseSearchOut, responses=errors(400, 404, 502, 504)
)
async def search_database(
    body: DatabaseSearchIn, session: Session, subject: CompanyQuery, deps: Dependencies
) -> DatabaseSearchOut:
    """Run SQL (checked by the guard, read-only, at most 100 rows), a MongoDB aggregate command
    (`{"aggregate": "<collection>", "pipeline": [...]}`) or a question in words (text-to-SQL with the
    agent's language model) on every active database connection of the company, or on
    `connection_id`; rows per connection name, or that connection's `{error, code}`. With
    `connection_id`, its refusal or failure is the answer (422 `sql_refused`, 502, 504, ...)."""
    outcome = await service.search_databases(
        session,
        deps,
        company_id=subject.named(body.company_id),
        query=body.query,
        connection_id=body.connection_id,
        actor=subject.actor,
    )
    results = {
        key: ConnectionFailure(error=v.error, code=v.code) if isinstance(v, service.Failure) else v
        for key, v in outcome.results.items()
    }
    return DatabaseSearchOut(query=body.query, results=results, execution_time=round(outcome.seconds, 4))
