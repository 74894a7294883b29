"""HTTP API of the reports over conversations: the export and the knowledge gaps.

Routed before the conversations' `/conversation/{conversation_id}` so their literal paths win.
- `GET /api/v1/conversation/export?format=csv|json` + the list filters: a streamed download of
  the conversations the caller sees (admins: the company's), one row per message (export.py).
- `GET /api/v1/conversation/knowledge-gaps`: admins' company-scoped unanswered or badly rated
  questions, grouped (gaps.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.pagination import Page, Pagination
from knowrithm_common.tenancy import CompanyAdminRead
from knowrithm_conversations.conversations import service
from knowrithm_conversations.conversations.endpoints import Filters, ParticipantRead
from knowrithm_conversations.conversations.filters import Period, period_query
from knowrithm_conversations.reports import export, gaps

router = APIRouter()
REPORTS: list[str | Enum] = ["Conversations"]


class GapAgent(BaseModel):
    id: uuid.UUID
    name: str | None = Field(description="null when the agent is unknown here")


class GapReasons(BaseModel):
    no_answer: int = Field(description="times the agent found no answer")
    negative_feedback: int = Field(description="times the answer got a thumbs down or a rating of 1-2")


class KnowledgeGap(BaseModel):
    question: str = Field(description="the most recent wording of the question")
    count: int
    reasons: GapReasons
    agents: list[GapAgent]
    first_asked: dt.datetime
    last_asked: dt.datetime
    conversation_ids: list[uuid.UUID] = Field(description="up to 5, most recent first")

    @classmethod
    def of(cls, gap: gaps.Gap) -> KnowledgeGap:
        return cls(question=gap.question, count=gap.count,
                   reasons=GapReasons(no_answer=gap.no_answer, negative_feedback=gap.negative_feedback),
                   agents=[GapAgent(id=a, name=n) for a, n in gap.agents], first_asked=gap.first_asked,
                   last_asked=gap.last_asked, conversation_ids=gap.conversation_ids)


class KnowledgeGaps(BaseModel):
    knowledge_gaps: list[KnowledgeGap]
    pagination: Pagination


@router.get("/api/v1/conversation/knowledge-gaps", response_model=KnowledgeGaps, tags=REPORTS)
async def knowledge_gaps(
    subject: CompanyAdminRead, session: Session, page: Page,
    period: Annotated[Period, Depends(period_query)],
    agent_id: uuid.UUID | None = Query(None, description="Only this agent's answers"),
) -> KnowledgeGaps:
    """Questions the agents could not answer or whose answers were rated badly, grouped (admins)."""
    rows, pagination = await gaps.gaps_page(session, subject.company_id, page, agent_id=agent_id,
                                            period=period)
    return KnowledgeGaps(knowledge_gaps=[KnowledgeGap.of(g) for g in rows], pagination=pagination)


MEDIA = {export.ExportFormat.CSV: "text/csv; charset=utf-8", export.ExportFormat.JSON: "application/json"}


@router.get("/api/v1/conversation/export", tags=REPORTS, response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}, "application/json": {}},
                             "description": "One row per message (at most 10,000 conversations)"}})
async def export_conversations(
    subject: ParticipantRead, session: Session, request: Request, filters: Filters,
    fmt: export.ExportFormat = Query(export.ExportFormat.CSV, alias="format", description="csv | json"),
) -> StreamingResponse:
    """Download the conversations you can see, filtered, one row per message (10,000 at most)."""
    ids, truncated = await export.conversation_ids(session, service.viewer_of(subject), filters)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    headers = {"Content-Disposition": f'attachment; filename="conversations-{stamp}.{fmt.value}"',
               "Cache-Control": "no-store", "X-Export-Truncated": str(truncated).lower(),
               "X-Export-Conversations": str(len(ids))}
    return StreamingResponse(export.stream(request.app.state.db, ids, fmt), media_type=MEDIA[fmt],
                             headers=headers)
