"""Queries over the projections: registration counts, and the platform-wide business numbers.

What lives on the platform now (companies, users, agents, conversations, leads, documents)
leaves out deleted rows and everything of a deleted company. What happened (messages,
tokens, feedback, conversions, API requests) counts every fact: it happened all the same.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import (
    AgentFact,
    ApiRequestFact,
    CompanyRegistration,
    ConversationFact,
    DocumentFact,
    FeedbackFact,
    LeadFact,
    MessageFact,
    UserRegistration,
)


async def count_companies(session: AsyncSession) -> int:
    """Companies that signed up and are not deleted."""
    stmt = (
        select(func.count()).select_from(CompanyRegistration).where(CompanyRegistration.deleted_at.is_(None))
    )
    return int(await session.scalar(stmt) or 0)


async def count_users(session: AsyncSession, company_id: uuid.UUID | None) -> int:
    """Users of one company, or of the whole platform when `company_id` is None.

    Deleted users, and every user of a deleted company, are left out.
    """
    stmt = _live(select(func.count()).select_from(UserRegistration), UserRegistration).where(
        UserRegistration.deleted.is_(False)
    )
    if company_id is not None:
        stmt = stmt.where(UserRegistration.company_id == company_id)
    return int(await session.scalar(stmt) or 0)


def _live(stmt: Select[Any], model: Any) -> Select[Any]:
    """Rows of companies that are not deleted (a company not seen yet counts as live)."""
    return stmt.outerjoin(CompanyRegistration, CompanyRegistration.company_id == model.company_id).where(
        CompanyRegistration.deleted_at.is_(None)
    )


async def _by(session: AsyncSession, model: Any, label: Any, *, live: bool) -> dict[str, int]:
    stmt = select(label, func.count()).select_from(model).group_by(label)
    if live:
        stmt = _live(stmt, model).where(model.deleted_at.is_(None))
    return {str(key): int(count) for key, count in (await session.execute(stmt)).all()}


def _outcome() -> Any:
    return case(
        (ApiRequestFact.rate_limited.is_(True), "rate_limited"),
        (ApiRequestFact.status < 400, "success"),
        (ApiRequestFact.status < 500, "client_error"),
        else_="server_error",
    )


@dataclass
class BusinessNumbers:
    """Platform-wide numbers exported to Prometheus (no per-company labels: cardinality)."""

    companies: int = 0
    users: int = 0
    agents: dict[str, int] = field(default_factory=dict)
    conversations: int = 0
    messages: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    leads: dict[str, int] = field(default_factory=dict)
    lead_conversions: int = 0
    feedback: dict[str, int] = field(default_factory=dict)
    rating_average: float = 0.0
    documents: dict[str, int] = field(default_factory=dict)
    api_requests_24h: dict[str, int] = field(default_factory=dict)


async def _messages(session: AsyncSession, numbers: BusinessNumbers) -> None:
    stmt = select(
        MessageFact.role,
        func.count(),
        func.sum(MessageFact.input_tokens),
        func.sum(MessageFact.output_tokens),
    ).group_by(MessageFact.role)
    numbers.tokens = {"input": 0, "output": 0}
    for role, count, tokens_in, tokens_out in (await session.execute(stmt)).all():
        numbers.messages[str(role)] = int(count)
        numbers.tokens["input"] += int(tokens_in or 0)
        numbers.tokens["output"] += int(tokens_out or 0)


async def _feedback(session: AsyncSession, numbers: BusinessNumbers) -> None:
    stmt = select(
        func.count(FeedbackFact.rating),
        func.avg(FeedbackFact.rating),
        func.count().filter(FeedbackFact.thumbs == "up"),
        func.count().filter(FeedbackFact.thumbs == "down"),
    )
    rated, average, up, down = (await session.execute(stmt)).one()
    numbers.feedback = {"rating": int(rated), "thumbs_up": int(up), "thumbs_down": int(down)}
    numbers.rating_average = float(average or 0.0)


async def business_numbers(session: AsyncSession, *, now: dt.datetime) -> BusinessNumbers:
    """Every platform-wide business number, read from the projections."""
    numbers = BusinessNumbers(
        companies=await count_companies(session),
        users=await count_users(session, None),
        agents=await _by(session, AgentFact, AgentFact.status, live=True),
        leads=await _by(session, LeadFact, LeadFact.status, live=True),
        documents=await _by(session, DocumentFact, DocumentFact.status, live=True),
    )
    conversations = _live(select(func.count()).select_from(ConversationFact), ConversationFact)
    numbers.conversations = int(
        await session.scalar(conversations.where(ConversationFact.deleted_at.is_(None))) or 0
    )
    numbers.lead_conversions = int(
        await session.scalar(select(func.count()).where(LeadFact.converted_at.is_not(None))) or 0
    )
    await _messages(session, numbers)
    await _feedback(session, numbers)
    outcome = _outcome()
    recent = and_(ApiRequestFact.time >= now - dt.timedelta(hours=24), ApiRequestFact.time <= now)
    rows = await session.execute(select(outcome, func.count()).where(recent).group_by(outcome))
    numbers.api_requests_24h = {str(key): int(count) for key, count in rows.all()}
    return numbers
