"""Every query of leads and of what a lead owns (its conversations, messages, feedback); scoped
by company (None: a super admin, every company). Erased leads are found by no query here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.pagination import PageParams, Pagination, paginate
from knowrithm_conversations.conversations.filters import Period
from knowrithm_conversations.conversations.repository import in_period
from knowrithm_conversations.models import Conversation, EntityType, Feedback, Lead, Message


def _scoped(stmt: Select[Any], company_id: uuid.UUID | None) -> Select[Any]:
    stmt = stmt.where(Lead.erased_at.is_(None))
    return stmt if company_id is None else stmt.where(Lead.company_id == company_id)


async def leads_page(
    session: AsyncSession, company_id: uuid.UUID | None, page: PageParams, *, status: str | None = None,
    agent_id: uuid.UUID | None = None, search: str | None = None, email_hashes: Sequence[str] = (),
    created: Period | None = None,
) -> tuple[Sequence[Lead], Pagination]:
    """One page of live leads, newest first; `search` matches names, `email_hashes` an exact email,
    `created` the period of their creation."""
    stmt = _scoped(select(Lead), company_id).where(Lead.not_deleted())
    if created is not None:
        stmt = stmt.where(*in_period(Lead.created_at, created))
    if status is not None:
        stmt = stmt.where(Lead.status == status)
    if agent_id is not None:
        stmt = stmt.where(Lead.agent_id == agent_id)
    if search:
        full_name = func.concat(Lead.first_name, " ", func.coalesce(Lead.last_name, ""))
        matches = [full_name.icontains(search, autoescape=True)]
        if email_hashes:
            matches.append(Lead.email_hash.in_(list(email_hashes)))
        stmt = stmt.where(or_(*matches))
    return await paginate(session, stmt.order_by(Lead.created_at.desc(), Lead.id), page)


async def get_lead(
    session: AsyncSession, lead_id: uuid.UUID, company_id: uuid.UUID | None, *,
    include_deleted: bool = False, lock: bool = False,
) -> Lead | None:
    """A live lead of the company (a soft-deleted one too with `include_deleted`)."""
    stmt = _scoped(select(Lead).where(Lead.id == lead_id), company_id)
    if not include_deleted:
        stmt = stmt.where(Lead.not_deleted())
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


def _of_lead(lead: Lead) -> Any:
    return (
        (Conversation.company_id == lead.company_id)
        & (Conversation.entity_type == EntityType.LEAD.value)
        & (Conversation.entity_id == lead.id)
    )


async def conversations_of(session: AsyncSession, lead: Lead) -> Sequence[Conversation]:
    """Every conversation of the lead, deleted ones included, oldest first."""
    stmt = select(Conversation).where(_of_lead(lead)).order_by(Conversation.created_at, Conversation.id)
    return (await session.scalars(stmt)).all()


async def messages_of(session: AsyncSession, conversation_ids: Sequence[uuid.UUID]) -> Sequence[Message]:
    """Every message of these conversations, deleted ones included, oldest first."""
    if not conversation_ids:
        return []
    stmt = (
        select(Message)
        .where(Message.conversation_id.in_(conversation_ids))
        .order_by(Message.created_at, Message.id)
    )
    return (await session.scalars(stmt)).all()


def _feedback_of(lead: Lead, conversation_ids: Sequence[uuid.UUID]) -> Any:
    given = (Feedback.entity_type == EntityType.LEAD.value) & (Feedback.entity_id == lead.id)
    return or_(given, Feedback.conversation_id.in_(conversation_ids)) if conversation_ids else given


async def feedback_of(
    session: AsyncSession, lead: Lead, conversation_ids: Sequence[uuid.UUID]
) -> Sequence[Feedback]:
    """Feedback the lead gave, and feedback on its conversations, oldest first."""
    stmt = (
        select(Feedback)
        .where(Feedback.company_id == lead.company_id, _feedback_of(lead, conversation_ids))
        .order_by(Feedback.created_at, Feedback.id)
    )
    return (await session.scalars(stmt)).all()


@dataclass(frozen=True, slots=True)
class Erased:
    conversation_ids: list[uuid.UUID]
    messages: int
    feedback: int

    @property
    def conversations(self) -> int:
        return len(self.conversation_ids)


async def _count_deleted(session: AsyncSession, stmt: Any) -> int:
    return len((await session.execute(stmt)).scalars().all())


async def erase_owned(session: AsyncSession, lead: Lead) -> Erased:
    """Hard-delete the lead's conversations with their messages and feedback; what went."""
    ids = list((await session.scalars(select(Conversation.id).where(_of_lead(lead)).with_for_update())).all())
    feedback = await _count_deleted(session, delete(Feedback).where(
        Feedback.company_id == lead.company_id, _feedback_of(lead, ids)).returning(Feedback.id))
    messages = 0
    if ids:
        messages = await _count_deleted(
            session, delete(Message).where(Message.conversation_id.in_(ids)).returning(Message.id)
        )
        await session.execute(delete(Conversation).where(Conversation.id.in_(ids)))
    return Erased(ids, messages, feedback)
