"""The `conversation_analytics` shape: messages, tokens, ratings, roles, activity, leads engaged.

Used for the dashboard (every conversation in scope) and for one conversation. Conversation
titles and lead names/emails never reach analytics (events carry no personal data or content):
`title`, `lead_name`, `lead_email` and `average_confidence_score` are null.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, distinct, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.business.facts import Conditions, counts, day_of, iso, rounded, seconds, within
from knowrithm_analytics.models import ConversationFact, FeedbackFact, LeadFact, MessageFact
from knowrithm_analytics.windows import Window

TOP_CONVERSATIONS = 10
TOKENS = MessageFact.input_tokens + MessageFact.output_tokens


@dataclass(frozen=True, slots=True)
class ConversationRows:
    """The filters of one report: conversations, their messages and feedback, their leads."""

    conversations: Conditions
    messages: Conditions
    feedback: Conditions
    leads: Conditions


async def message_analytics(
    session: AsyncSession, messages: Conditions, feedback: Conditions
) -> dict[str, Any]:
    """Messages, tokens, answer latency and ratings."""
    stmt = select(
        func.count(),
        func.coalesce(func.sum(TOKENS), 0),
        func.avg(MessageFact.latency_ms).filter(MessageFact.role == "assistant"),
    ).where(*messages)
    total, tokens, latency = (await session.execute(stmt)).one()
    rated = FeedbackFact.rating.is_not(None)
    rating_stmt = select(
        func.avg(FeedbackFact.rating).filter(rated),
        func.count(distinct(FeedbackFact.message_id)).filter(rated, FeedbackFact.message_id.is_not(None)),
    ).where(*feedback)
    rating, rated_messages = (await session.execute(rating_stmt)).one()
    return {
        "total_messages": int(total),
        "total_tokens": int(tokens),
        "average_tokens_per_message": round(int(tokens) / total, 2) if total else None,
        "average_processing_time": seconds(latency),
        "average_rating": rounded(rating),
        "rated_messages": int(rated_messages),
        "average_confidence_score": None,
    }


async def message_roles(session: AsyncSession, messages: Conditions) -> dict[str, int]:
    stmt = select(MessageFact.role, func.count()).where(*messages).group_by(MessageFact.role)
    return counts(await session.execute(stmt))


async def activity_timeline(
    session: AsyncSession, messages: Conditions, window: Window | None
) -> list[dict[str, Any]]:
    """Per UTC day with messages: the conversations active that day and the messages sent."""
    day = day_of(MessageFact.created_at).label("day")
    stmt = (
        select(day, func.count(distinct(MessageFact.conversation_id)), func.count())
        .where(*messages, *within(MessageFact.created_at, window))
        .group_by(day)
        .order_by(day)
    )
    return [
        {"date": iso(d), "conversations": int(c), "messages": int(m)}
        for d, c, m in await session.execute(stmt)
    ]


async def top_conversations(session: AsyncSession, messages: Conditions) -> list[dict[str, Any]]:
    """The conversations with the most messages."""
    stmt = (
        select(MessageFact.conversation_id, func.count(), func.max(MessageFact.created_at))
        .where(*messages)
        .group_by(MessageFact.conversation_id)
        .order_by(func.count().desc(), func.max(MessageFact.created_at).desc())
        .limit(TOP_CONVERSATIONS)
    )
    return [
        {
            "id": str(conversation_id),
            "title": None,
            "lead_name": None,
            "lead_email": None,
            "message_count": int(count),
            "last_activity": iso(last),
        }
        for conversation_id, count, last in await session.execute(stmt)
    ]


def _lead_conversation(lead_conversations: Conditions) -> Any:
    """A live conversation of the lead (started with it, or the lead's own) that has messages."""
    linked = or_(
        ConversationFact.conversation_id == LeadFact.conversation_id,
        and_(ConversationFact.entity_type == "lead", ConversationFact.entity_id == LeadFact.lead_id),
    )
    has_messages = exists().where(MessageFact.conversation_id == ConversationFact.conversation_id)
    return exists().where(linked, has_messages, *lead_conversations)


async def lead_engagement(session: AsyncSession, rows: ConversationRows) -> dict[str, Any]:
    """Leads who talked (a conversation with messages), conversions, and leads' ratings."""
    stmt = select(
        func.count().filter(_lead_conversation(rows.conversations)),
        func.count().filter(LeadFact.status == "converted"),
    ).where(*rows.leads)
    engaged, converted = (await session.execute(stmt)).one()
    satisfaction = await session.scalar(
        select(func.avg(FeedbackFact.rating)).where(*rows.feedback, FeedbackFact.entity_type == "lead")
    )
    return {
        "engaged_leads": int(engaged),
        "total_conversions": int(converted),
        "average_satisfaction": rounded(satisfaction),
    }


async def conversation_analytics(
    session: AsyncSession, rows: ConversationRows, *, timeline: Window | None
) -> dict[str, Any]:
    """The dashboard's `conversation_analytics` over `rows` (`timeline`: the activity days shown)."""
    live = await session.scalar(select(func.count()).select_from(ConversationFact).where(*rows.conversations))
    return {
        "conversation_status": {"active": int(live or 0)},
        "message_analytics": await message_analytics(session, rows.messages, rows.feedback),
        "message_roles": await message_roles(session, rows.messages),
        "activity_timeline": await activity_timeline(session, rows.messages, timeline),
        "top_conversations": await top_conversations(session, rows.messages),
        "lead_engagement": await lead_engagement(session, rows),
    }


def one_conversation(conversation: ConversationFact) -> ConversationRows:
    """The rows of one live conversation: its messages, its feedback, the leads it belongs to."""
    cid = conversation.conversation_id
    leads: Conditions = [LeadFact.deleted_at.is_(None), LeadFact.company_id == conversation.company_id]
    if conversation.entity_type == "lead":
        leads.append(or_(LeadFact.conversation_id == cid, LeadFact.lead_id == conversation.entity_id))
    else:
        leads.append(LeadFact.conversation_id == cid)
    return ConversationRows(
        conversations=[ConversationFact.conversation_id == cid],
        messages=[MessageFact.conversation_id == cid],
        feedback=[FeedbackFact.conversation_id == cid],
        leads=leads,
    )


async def find_conversation(
    session: AsyncSession, conversation_id: uuid.UUID, conditions: Conditions
) -> ConversationFact | None:
    """A live conversation matching the caller's scope, or None."""
    stmt = select(ConversationFact).where(ConversationFact.conversation_id == conversation_id, *conditions)
    return (await session.execute(stmt)).scalar_one_or_none()
