"""HTTP API of feedback: on one answer (`/message/{id}/feedback`) or on a whole conversation.

Whoever sees the conversation may give feedback (its owner, a lead in its own conversation,
the company's admins); another company's or another user's conversation answers 404. The
first feedback of a caller on a target answers 201; giving it again replaces it (200).
Listing a conversation's feedback is for the company's members who see it (not for leads).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.tenancy import CompanyRead
from knowrithm_conversations.conversations.endpoints import ParticipantWrite
from knowrithm_conversations.feedback import service
from knowrithm_conversations.feedback.service import FeedbackIn, FeedbackOut
from knowrithm_conversations.models import Feedback

router = APIRouter(tags=["Feedback"])


class FeedbackGiven(BaseModel):
    success: bool = True
    message: str
    feedback: FeedbackOut


class FeedbackList(BaseModel):
    success: bool = True
    feedback: list[FeedbackOut]
    total: int


def _given(response: Response, feedback: Feedback, created: bool) -> FeedbackGiven:
    response.status_code = 201 if created else 200
    return FeedbackGiven(message="Feedback recorded" if created else "Feedback updated",
                         feedback=FeedbackOut.of(feedback))


# A second rating by the same caller replaces the first: 200 instead of 201.
UPDATED: dict[int | str, dict[str, Any]] = {
    200: {"model": FeedbackGiven, "description": "Updated: the caller had already given feedback here"},
}


@router.post("/api/v1/message/{message_id}/feedback", status_code=201, response_model=FeedbackGiven,
             responses=UPDATED)
async def message_feedback(
    subject: ParticipantWrite, message_id: uuid.UUID, body: FeedbackIn, response: Response, session: Session
) -> FeedbackGiven:
    """Rate one of the agent's answers (rating 1-5 and/or thumbs, optional comment)."""
    feedback, created = await service.message_feedback(session, subject, message_id, body)
    return _given(response, feedback, created)


@router.post("/api/v1/conversation/{conversation_id}/feedback", status_code=201,
             response_model=FeedbackGiven, responses=UPDATED)
async def conversation_feedback(
    subject: ParticipantWrite, conversation_id: uuid.UUID, body: FeedbackIn, response: Response,
    session: Session,
) -> FeedbackGiven:
    """Rate a whole conversation (rating 1-5 and/or thumbs, optional comment)."""
    feedback, created = await service.conversation_feedback(session, subject, conversation_id, body)
    return _given(response, feedback, created)


@router.get("/api/v1/conversation/{conversation_id}/feedback", response_model=FeedbackList)
async def list_feedback(subject: CompanyRead, conversation_id: uuid.UUID, session: Session) -> FeedbackList:
    """The feedback on a conversation and its answers, oldest first."""
    rows = await service.feedback_on(session, subject, conversation_id)
    return FeedbackList(feedback=[FeedbackOut.of(f) for f in rows], total=len(rows))
