"""Feedback use cases and their models: give (or change) feedback on an answer or a
conversation, list a conversation's feedback.

Each caller has one feedback per answer and one per conversation: giving it again replaces
the first (a changed mind is not a second vote). The comment stays in this service; the
`conversations.feedback.given.v1` event carries only the rating, thumbs and whether there is
a comment.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.errors import ValidationFailed
from knowrithm_common.events.conversations import FeedbackGivenV1
from knowrithm_common.tenancy import Subject
from knowrithm_conversations.conversations import repository as conversations_repo
from knowrithm_conversations.conversations.service import (
    ConversationNotFound,
    entity_of,
    get_visible_conversation,
    get_visible_message,
)
from knowrithm_conversations.feedback import repository as repo
from knowrithm_conversations.models import Conversation, Feedback, Message, MessageRole, outbox


class Thumbs(StrEnum):
    UP = "up"
    DOWN = "down"


class FeedbackIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    rating: int | None = Field(None, ge=1, le=5, description="1 (poor) to 5 (excellent)")
    thumbs: Thumbs | None = Field(None, description="up | down")
    comment: str | None = Field(None, max_length=2000)

    @field_validator("comment")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


class FeedbackOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID | None = Field(description="the answer it is about; null: the whole conversation")
    agent_id: uuid.UUID
    entity_type: str = Field(description="user | lead: who gave it")
    entity_id: uuid.UUID
    rating: int | None
    thumbs: str | None
    comment: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, feedback: Feedback) -> FeedbackOut:
        return cls.model_validate({k: getattr(feedback, k) for k in cls.model_fields})


class FeedbackEmpty(ValidationFailed):
    code = "feedback_empty"
    message = "Give a rating from 1 to 5, or thumbs up or down (a comment alone is not enough)"


class NotAnAnswer(ValidationFailed):
    code = "feedback_on_answers_only"
    message = "Feedback goes on the agent's answers; this message is a question"


async def _answer_and_conversation(
    session: AsyncSession, message_id: uuid.UUID, subject: Subject
) -> tuple[Conversation, Message]:
    """A visible answer and its conversation (locked: one caller's feedback is created once)."""
    message = await get_visible_message(session, message_id, subject, deleted=False)
    if message.role != MessageRole.ASSISTANT.value:
        raise NotAnAnswer()
    conversation = await conversations_repo.get_conversation(
        session, message.conversation_id, message.company_id, lock=True
    )
    if conversation is None:  # a live message of a deleted conversation
        raise ConversationNotFound()
    return conversation, message


async def message_feedback(
    session: AsyncSession, subject: Subject, message_id: uuid.UUID, body: FeedbackIn
) -> tuple[Feedback, bool]:
    """Record the caller's feedback on one of the agent's answers; whether it is new."""
    conversation, message = await _answer_and_conversation(session, message_id, subject)
    return await _give(session, subject, body, conversation=conversation, message=message)


async def conversation_feedback(
    session: AsyncSession, subject: Subject, conversation_id: uuid.UUID, body: FeedbackIn
) -> tuple[Feedback, bool]:
    """Record the caller's feedback on a whole conversation; whether it is new."""
    conversation = await get_visible_conversation(session, conversation_id, subject, lock=True)
    return await _give(session, subject, body, conversation=conversation, message=None)


async def _give(
    session: AsyncSession, subject: Subject, body: FeedbackIn, *, conversation: Conversation,
    message: Message | None,
) -> tuple[Feedback, bool]:
    if body.rating is None and body.thumbs is None:
        raise FeedbackEmpty()
    message_id = message.id if message is not None else None
    entity_type, entity_id = entity_of(subject.principal)
    feedback = await repo.given_by(session, conversation.id, message_id, (entity_type, entity_id))
    created = feedback is None
    if feedback is None:
        feedback = Feedback(id=uuid.uuid4(), conversation_id=conversation.id, message_id=message_id,
                            company_id=conversation.company_id, agent_id=conversation.agent_id,
                            entity_type=entity_type.value, entity_id=entity_id)
        session.add(feedback)
    feedback.rating, feedback.comment = body.rating, body.comment
    feedback.thumbs = body.thumbs.value if body.thumbs is not None else None
    await session.flush()
    await session.refresh(feedback, ["created_at", "updated_at"])
    given = FeedbackGivenV1(
        feedback_id=feedback.id, conversation_id=conversation.id, message_id=message_id,
        agent_id=conversation.agent_id, entity_type=feedback.entity_type, rating=feedback.rating,
        thumbs=feedback.thumbs, has_comment=bool(feedback.comment),
    )
    await outbox.add(session, given, company_id=conversation.company_id, actor=subject.actor)
    return feedback, created


async def feedback_on(
    session: AsyncSession, subject: Subject, conversation_id: uuid.UUID
) -> Sequence[Feedback]:
    """The feedback on a conversation the caller sees, and on its answers, oldest first."""
    conversation = await get_visible_conversation(session, conversation_id, subject)
    return await repo.on_conversation(session, conversation.id)
