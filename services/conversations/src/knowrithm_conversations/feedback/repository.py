"""Every query of feedback: one caller's feedback on a target, and a conversation's feedback."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_conversations.conversations.repository import Entity
from knowrithm_conversations.models import Feedback


async def given_by(
    session: AsyncSession, conversation_id: uuid.UUID, message_id: uuid.UUID | None, entity: Entity
) -> Feedback | None:
    """The entity's feedback on an answer (or, `message_id` None, on the whole conversation)."""
    entity_type, entity_id = entity
    stmt = select(Feedback).where(
        Feedback.conversation_id == conversation_id,
        Feedback.message_id.is_(None) if message_id is None else Feedback.message_id == message_id,
        Feedback.entity_type == entity_type.value,
        Feedback.entity_id == entity_id,
    )
    return await session.scalar(stmt)


async def on_conversation(session: AsyncSession, conversation_id: uuid.UUID) -> Sequence[Feedback]:
    """Every feedback on a conversation and its answers, oldest first."""
    stmt = (
        select(Feedback)
        .where(Feedback.conversation_id == conversation_id)
        .order_by(Feedback.created_at, Feedback.id)
    )
    return (await session.scalars(stmt)).all()
