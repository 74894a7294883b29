"""`POST /api/v1/search/document`: hybrid search of the caller's company's documents."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.queries import SearchReply, SearchRequest
from knowrithm_common.tenancy import CompanyRead
from knowrithm_ingestion.pipeline.deps import Dependencies
from knowrithm_ingestion.search.service import search

router = APIRouter(tags=["Search"])


class SearchBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)  # a blank query is a 422, not a search

    query: str = Field(min_length=1, max_length=4000, description="What to look for")
    agent_id: uuid.UUID | None = Field(None, description="Only this agent's documents")
    limit: int = Field(10, ge=1, le=50)
    company_id: uuid.UUID | None = Field(None, description="Super admins: the company to search")


@router.post("/api/v1/search/document", response_model=SearchReply, responses=errors(400, 404))
async def search_documents(
    body: SearchBody, session: Session, subject: CompanyRead, deps: Dependencies
) -> SearchReply:
    """The passages best matching a query (keywords and meaning), with document, page and score."""
    request = SearchRequest(company_id=subject.named(body.company_id), query=body.query,
                            agent_id=body.agent_id, limit=body.limit)
    return await search(session, deps, request)
