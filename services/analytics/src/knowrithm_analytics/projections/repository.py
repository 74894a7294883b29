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

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.business.facts import Conditions, Facts
from knowrithm_analytics.models import (
    AgentFact,
    ApiRequestFact,
    CompanyRegistration,
    DocumentFact,
    FeedbackFact,
    LeadFact,
    MessageFact,
)
from knowrithm_common.errors import CompanyNotFound
from knowrithm_common.tenancy import Subject

PLATFORM = Facts(None)  # every company that is not deleted


async def _count(session: AsyncSession, conditions: Conditions) -> int:
    return int(await session.scalar(select(func.count()).where(*conditions)) or 0)


async def count_companies(session: AsyncSession) -> int:
    """Companies that signed up and are not deleted."""
    return await _count(session, [CompanyRegistration.deleted_at.is_(None)])


async def company_in_path(session: AsyncSession, subject: Subject, company_id: uuid.UUID) -> uuid.UUID:
    """The company a path names: a member's own; for super admins, one that signed up (deleted
    ones too: they still inspect them). Any other is 404 `company_not_found`."""
    company = subject.named(company_id)
    if subject.is_super_admin and await session.get(CompanyRegistration, company) is None:
        raise CompanyNotFound()
    return company


async def count_users(session: AsyncSession, company_id: uuid.UUID | None) -> int:
    """Users of one company, or of the whole platform when `company_id` is None.

    Deleted users, and every user of a deleted company, are left out.
    """
    return await _count(session, Facts(company_id).users())


async def _by(session: AsyncSession, label: Any, conditions: Conditions) -> dict[str, int]:
    stmt = select(label, func.count()).where(*conditions).group_by(label)
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
        users=await _count(session, PLATFORM.users()),
        agents=await _by(session, AgentFact.status, PLATFORM.agents()),
        conversations=await _count(session, PLATFORM.conversations()),
        leads=await _by(session, LeadFact.status, PLATFORM.leads()),
        lead_conversions=await _count(session, [LeadFact.converted_at.is_not(None)]),
        documents=await _by(session, DocumentFact.status, PLATFORM.documents()),
    )
    await _messages(session, numbers)
    await _feedback(session, numbers)
    recent = [ApiRequestFact.time >= now - dt.timedelta(hours=24), ApiRequestFact.time <= now]
    numbers.api_requests_24h = await _by(session, _outcome(), recent)
    return numbers
