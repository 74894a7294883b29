"""HTTP API of feedback: on one answer (`/message/{id}/feedback`) or on a whole conversation.

Whoever sees the conversation may give feedback (its owner, a lead in its own conversation,
the company's admins); another company's or another user's conversation answers 404. The
first feedback of a caller on a target answers 201; giving it again replaces it (200).
Listing a conversation's feedback is for the company's members who see it (not for leads).
"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Principal, authenticated
from knowrithm_common.tenancy import actor_of, readers
from knowrithm_conversations.conversations.endpoints import participants
from knowrithm_conversations.conversations.service import get_visible_conversation
from knowrithm_conversations.feedback import service
from knowrithm_conversations.feedback.service import FeedbackIn, FeedbackOut
from knowrithm_conversations.models import Feedback

router = APIRouter()
TAGS: list[str | Enum] = ["Feedback"]
Caller = Annotated[Principal, Depends(authenticated)]


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
             tags=TAGS, dependencies=participants("write"),
             responses=UPDATED)
async def message_feedback(
    message_id: uuid.UUID, body: FeedbackIn, request: Request, response: Response, session: Session,
    caller: Caller,
) -> FeedbackGiven:
    """Rate one of the agent's answers (rating 1-5 and/or thumbs, optional comment)."""
    conversation, message = await service.message_target(session, message_id, caller)
    feedback, created = await service.give_feedback(session, caller, body, conversation=conversation,
                                                    message=message, actor=actor_of(request, caller))
    return _given(response, feedback, created)


@router.post("/api/v1/conversation/{conversation_id}/feedback", status_code=201,
             response_model=FeedbackGiven, tags=TAGS, dependencies=participants("write"),
             responses=UPDATED)
async def conversation_feedback(
    conversation_id: uuid.UUID, body: FeedbackIn, request: Request, response: Response, session: Session,
    caller: Caller,
) -> FeedbackGiven:
    """Rate a whole conversation (rating 1-5 and/or thumbs, optional comment)."""
    conversation = await get_visible_conversation(session, conversation_id, caller, lock=True)
    feedback, created = await service.give_feedback(session, caller, body, conversation=conversation,
                                                    message=None, actor=actor_of(request, caller))
    return _given(response, feedback, created)


@router.get("/api/v1/conversation/{conversation_id}/feedback", response_model=FeedbackList, tags=TAGS,
            dependencies=readers)
async def list_feedback(conversation_id: uuid.UUID, session: Session, caller: Caller) -> FeedbackList:
    """The feedback on a conversation and its answers, oldest first."""
    conversation = await get_visible_conversation(session, conversation_id, caller)
    rows = await service.conversation_feedback(session, conversation.id)
    return FeedbackList(feedback=[FeedbackOut.of(f) for f in rows], total=len(rows))
