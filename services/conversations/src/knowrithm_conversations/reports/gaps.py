"""Knowledge gaps: the questions the agents could not answer (`metadata.answer_found` false) or
whose answer got negative feedback (a thumbs down or a rating of 1 or 2), grouped by their
normalised text (case, runs of whitespace and trailing punctuation ignored).

Each group: the most recent wording, how often it was asked, how often for which reason, the
agents asked, when first and last, and up to five of its conversations (most recent first).
Groups are sorted by count, then by the last time they were asked. Only live answers of live
conversations count; the period is on when the question was asked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, and_, cast, exists, func, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from knowrithm_common.pagination import PageParams, Pagination
from knowrithm_conversations.conversations.filters import Period
from knowrithm_conversations.conversations.repository import agents_by_id, in_period, negative_feedback
from knowrithm_conversations.models import Conversation, Feedback, Message, MessageRole

CONVERSATIONS_PER_GAP = 5


@dataclass(frozen=True, slots=True)
class Gap:
    question: str
    count: int
    no_answer: int
    negative_feedback: int
    agents: list[tuple[uuid.UUID, str | None]]
    first_asked: dt.datetime
    last_asked: dt.datetime
    conversation_ids: list[uuid.UUID]


def normalised(column: Any) -> Any:
    """The question's text lower-cased, whitespace runs made one space, trailing punctuation gone."""
    spaced = func.regexp_replace(func.lower(func.btrim(column)), r"\s+", " ", "g")
    return func.btrim(func.regexp_replace(spaced, r"[[:punct:][:space:]]+$", "", "g"))


def _flagged(company_id: uuid.UUID | None, agent_id: uuid.UUID | None, period: Period) -> Any:
    """Each flagged answer's question: its key, wording, time, agent, conversation and reasons."""
    question = aliased(Message)
    no_answer = Message.message_metadata["answer_found"].astext == "false"
    negative = exists().where(and_(Feedback.message_id == Message.id, negative_feedback()))
    stmt = (
        select(
            normalised(question.content).label("key"), question.content.label("question"),
            question.created_at.label("asked"), Message.agent_id.label("agent_id"),
            Message.conversation_id.label("conversation_id"),
            cast(no_answer, Integer).label("no_answer"), cast(negative, Integer).label("negative"),
        )
        .join(question, question.id == Message.reply_to)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.role == MessageRole.ASSISTANT.value, Message.not_deleted(),
               question.deleted_at.is_(None), Conversation.not_deleted(), or_(no_answer, negative),
               *in_period(question.created_at, period))
    )
    if company_id is not None:
        stmt = stmt.where(Message.company_id == company_id)
    if agent_id is not None:
        stmt = stmt.where(Message.agent_id == agent_id)
    return stmt.subquery("flagged")


async def gaps_page(
    session: AsyncSession, company_id: uuid.UUID | None, page: PageParams, *, agent_id: uuid.UUID | None,
    period: Period,
) -> tuple[list[Gap], Pagination]:
    """One page of the knowledge gaps, largest (then most recent) first."""
    f = _flagged(company_id, agent_id, period)
    stmt = (
        select(
            func.count().label("times"), func.sum(f.c.no_answer).label("no_answer"),
            func.sum(f.c.negative).label("negative"), func.min(f.c.asked).label("first_asked"),
            func.max(f.c.asked).label("last_asked"),
            func.array_agg(aggregate_order_by(f.c.question, f.c.asked.desc())).label("wordings"),
            func.array_agg(func.distinct(f.c.agent_id)).label("agents"),
            func.array_agg(aggregate_order_by(f.c.conversation_id, f.c.asked.desc())).label("conversations"),
            func.count().over().label("groups"),
        )
        .group_by(f.c.key)
        .order_by(func.count().desc(), func.max(f.c.asked).desc(), f.c.key)
        .limit(page.per_page).offset(page.offset)
    )
    rows = (await session.execute(stmt)).all()
    total = int(rows[0].groups) if rows else await _groups(session, f)
    names = await agents_by_id(session, {a for row in rows for a in row.agents})
    gaps = [
        Gap(question=row.wordings[0], count=int(row.times), no_answer=int(row.no_answer or 0),
            negative_feedback=int(row.negative or 0),
            agents=[(a, names[a].name if a in names else None) for a in row.agents],
            first_asked=row.first_asked, last_asked=row.last_asked,
            conversation_ids=list(dict.fromkeys(row.conversations))[:CONVERSATIONS_PER_GAP])
        for row in rows
    ]
    return gaps, Pagination.of(page, total)


async def _groups(session: AsyncSession, flagged: Any) -> int:
    """How many groups there are (asked when the page is past the end)."""
    counted = select(func.count(func.distinct(flagged.c.key)))
    return int(await session.scalar(counted) or 0)
