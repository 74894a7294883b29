"""Every query of conversations and messages; scoped by company (None: a super admin, every
company) and, for callers who see only their own, by entity (`(entity_type, entity_id)`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from knowrithm_common.pagination import PageParams, Pagination, paginate
from knowrithm_conversations.conversations.filters import ConversationFilters, LeadFilter, Period, Rating
from knowrithm_conversations.conversations.schemas import StatusFilter
from knowrithm_conversations.models import AgentView, Conversation, EntityType, Feedback, Message

Entity = tuple[EntityType, uuid.UUID]


def _scoped(stmt: Select[Any], company_id: uuid.UUID | None, entity: Entity | None) -> Select[Any]:
    if company_id is not None:
        stmt = stmt.where(Conversation.company_id == company_id)
    if entity is not None:
        stmt = stmt.where(Conversation.entity_type == entity[0].value, Conversation.entity_id == entity[1])
    return stmt


def _status(stmt: Select[Any], status: StatusFilter) -> Select[Any]:
    if status is StatusFilter.ALL:
        return stmt
    if status is StatusFilter.DELETED:
        return stmt.where(Conversation.only_deleted())
    stmt = stmt.where(Conversation.not_deleted())
    if status is StatusFilter.ARCHIVED:
        return stmt.where(Conversation.status == "archived")
    return stmt.where(Conversation.status != "archived")


def recent() -> ColumnElement[Any]:
    """A conversation's last activity (its creation when it has none)."""
    return func.coalesce(Conversation.last_activity, Conversation.created_at)


def positive_feedback() -> ColumnElement[bool]:
    return or_(Feedback.thumbs == "up", Feedback.rating >= 4)


def negative_feedback() -> ColumnElement[bool]:
    return or_(Feedback.thumbs == "down", Feedback.rating <= 2)


def in_period(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], period: Period
) -> list[ColumnElement[bool]]:
    """`column` within the period (from inclusive, to exclusive)."""
    found: list[ColumnElement[bool]] = []
    if period.start is not None:
        found.append(column >= period.start)
    if period.end is not None:
        found.append(column < period.end)
    return found


def _rated(rating: Rating) -> ColumnElement[bool]:
    on_it = Feedback.conversation_id == Conversation.id
    if rating is Rating.UNRATED:
        return ~exists().where(on_it)
    verdict = positive_feedback() if rating is Rating.POSITIVE else negative_feedback()
    return exists().where(and_(on_it, verdict))


def filtered(stmt: Select[Any], filters: ConversationFilters | None) -> Select[Any]:
    """`stmt` (of conversations) narrowed by the list filters."""
    if filters is None:
        return stmt
    if filters.agent_id is not None:
        stmt = stmt.where(Conversation.agent_id == filters.agent_id)
    stmt = stmt.where(*in_period(recent(), filters.period))
    if filters.rating is not None:
        stmt = stmt.where(_rated(filters.rating))
    if filters.lead is LeadFilter.WITH or filters.lead_id is not None:
        stmt = stmt.where(Conversation.entity_type == EntityType.LEAD.value)
    if filters.lead is LeadFilter.WITHOUT:
        stmt = stmt.where(Conversation.entity_type != EntityType.LEAD.value)
    if filters.lead_id is not None:
        stmt = stmt.where(Conversation.entity_id == filters.lead_id)
    return stmt


def visible_conversations(
    company_id: uuid.UUID | None, *, entity: Entity | None = None, agent_id: uuid.UUID | None = None,
    status: StatusFilter = StatusFilter.ACTIVE, filters: ConversationFilters | None = None,
) -> Select[Any]:
    """The conversations a scope sees, filtered, most recently active first."""
    stmt = filtered(_status(_scoped(select(Conversation), company_id, entity), status), filters)
    if agent_id is not None:
        stmt = stmt.where(Conversation.agent_id == agent_id)
    return stmt.order_by(recent().desc(), Conversation.id)


async def conversations_page(
    session: AsyncSession, company_id: uuid.UUID | None, page: PageParams, *, entity: Entity | None = None,
    agent_id: uuid.UUID | None = None, status: StatusFilter = StatusFilter.ACTIVE,
    filters: ConversationFilters | None = None,
) -> tuple[Sequence[Conversation], Pagination]:
    """One page of the company's conversations (of one entity, one agent, filtered), most recently
    active first."""
    stmt = visible_conversations(company_id, entity=entity, agent_id=agent_id, status=status, filters=filters)
    return await paginate(session, stmt, page)


async def has_conversation(session: AsyncSession, company_id: uuid.UUID | None, entity: Entity) -> bool:
    """Whether the entity has a conversation (live or deleted) in the company (any, when None)."""
    stmt = _scoped(select(Conversation.id), company_id, entity).limit(1)
    return await session.scalar(stmt) is not None


async def get_conversation(
    session: AsyncSession, conversation_id: uuid.UUID, company_id: uuid.UUID | None, *,
    entity: Entity | None = None, deleted: bool = False, lock: bool = False,
) -> Conversation | None:
    """A live (or, with `deleted=True`, soft-deleted) conversation the scope allows."""
    stmt = _scoped(select(Conversation).where(Conversation.id == conversation_id), company_id, entity)
    stmt = stmt.where(Conversation.only_deleted() if deleted else Conversation.not_deleted())
    if lock:
        stmt = stmt.with_for_update(of=Conversation)
    return await session.scalar(stmt)


async def agents_by_id(session: AsyncSession, agent_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, AgentView]:
    """The agents of these ids (deleted ones too: an old conversation still shows its agent's name)."""
    ids = set(agent_ids)
    if not ids:
        return {}
    agents = await session.scalars(select(AgentView).where(AgentView.agent_id.in_(ids)))
    return {a.agent_id: a for a in agents}


async def messages_page(
    session: AsyncSession, company_id: uuid.UUID | None, page: PageParams, *,
    conversation_id: uuid.UUID | None = None, entity: Entity | None = None, deleted: bool = False,
) -> tuple[Sequence[Message], Pagination]:
    """One page of messages of visible conversations, oldest first (deleted ones: most recently
    deleted first)."""
    stmt = _scoped(select(Message).join(Conversation, Conversation.id == Message.conversation_id),
                   company_id, entity)
    if conversation_id is not None:
        stmt = stmt.where(Message.conversation_id == conversation_id)
    if deleted:
        stmt = stmt.where(Message.only_deleted()).order_by(Message.deleted_at.desc(), Message.id)
    else:
        stmt = stmt.where(Message.not_deleted()).order_by(Message.created_at, Message.id)
    return await paginate(session, stmt, page)


async def get_message(
    session: AsyncSession, message_id: uuid.UUID, company_id: uuid.UUID | None, *,
    entity: Entity | None = None, deleted: bool,
) -> Message | None:
    """A live or soft-deleted message of a conversation the scope allows."""
    stmt = _scoped(select(Message).join(Conversation, Conversation.id == Message.conversation_id)
                   .where(Message.id == message_id), company_id, entity)
    stmt = stmt.where(Message.only_deleted() if deleted else Message.not_deleted())
    return await session.scalar(stmt)


async def soft_delete_messages(session: AsyncSession, conversation_id: uuid.UUID, at: dt.datetime) -> int:
    """Soft-delete the conversation's live messages at `at`; how many."""
    result = await session.execute(
        update(Message)
        .where(Message.conversation_id == conversation_id, Message.not_deleted())
        .values(deleted_at=at)
        .returning(Message.id)
    )
    return len(result.scalars().all())


async def restore_messages(
    session: AsyncSession, conversation_id: uuid.UUID, *, deleted_at: dt.datetime | None = None
) -> int:
    """Restore the conversation's soft-deleted messages (only those deleted at `deleted_at` when given)."""
    stmt = update(Message).where(Message.conversation_id == conversation_id, Message.only_deleted())
    if deleted_at is not None:
        stmt = stmt.where(Message.deleted_at == deleted_at)
    result = await session.execute(stmt.values(deleted_at=None).returning(Message.id))
    return len(result.scalars().all())


async def count_live_messages(session: AsyncSession, conversation_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(Message).where(
        Message.conversation_id == conversation_id, Message.not_deleted()
    )
    return int(await session.scalar(stmt) or 0)
