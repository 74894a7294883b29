"""Daily trends and the agents side by side, for the console's Analytics screen.

`daily_trends`: for every UTC calendar day the window touches (days without activity are
present with zeros, so a chart has one point a day): conversations started, messages sent, leads
registered, the mean feedback rating and the mean answer latency. Averages over nothing are
null, never 0. `agents_side_by_side`: every live agent of the company with its numbers in the
window (agents without activity included, with zeros and nulls).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.business.agents import per_agent
from knowrithm_analytics.business.facts import Facts, day_of, rounded, seconds, within
from knowrithm_analytics.models import AgentFact, ConversationFact, FeedbackFact, LeadFact, MessageFact
from knowrithm_analytics.windows import InvalidDateRange, Window

MAX_TREND_DAYS = 366


def calendar_days(window: Window) -> list[dt.date]:
    """The UTC days `window` touches, oldest first; 400 when that is more than a year's worth."""
    first = window.start.astimezone(dt.UTC).date()
    last = max(window.end - dt.timedelta(microseconds=1), window.start).astimezone(dt.UTC).date()
    count = (last - first).days + 1
    if count > MAX_TREND_DAYS:
        raise InvalidDateRange(f"A trend covers at most {MAX_TREND_DAYS} days")
    return [first + dt.timedelta(days=n) for n in range(count)]


async def _per_day(
    session: AsyncSession, column: Any, value: Any, conditions: list[Any]
) -> dict[dt.date, Any]:
    day = day_of(column).label("day")
    stmt = select(day, value).where(*conditions).group_by(day)
    return {d: v for d, v in await session.execute(stmt)}


async def daily_trends(session: AsyncSession, facts: Facts, window: Window) -> dict[str, Any]:
    """Per UTC day of `window`: conversations, messages, leads, mean rating, mean latency; and totals."""
    days = calendar_days(window)
    conversations = [*facts.conversations(), *within(ConversationFact.started_at, window)]
    messages = [*facts.messages(), *within(MessageFact.created_at, window)]
    answers = [*messages, MessageFact.role == "assistant", MessageFact.latency_ms.is_not(None)]
    ratings = [*facts.feedback(), *within(FeedbackFact.created_at, window), FeedbackFact.rating.is_not(None)]
    leads = [*facts.leads(), *within(LeadFact.registered_at, window)]
    started = await _per_day(session, ConversationFact.started_at, func.count(), conversations)
    sent = await _per_day(session, MessageFact.created_at, func.count(), messages)
    latency = await _per_day(session, MessageFact.created_at, func.avg(MessageFact.latency_ms), answers)
    rating = await _per_day(session, FeedbackFact.created_at, func.avg(FeedbackFact.rating), ratings)
    registered = await _per_day(session, LeadFact.registered_at, func.count(), leads)
    mean_rating = await session.scalar(select(func.avg(FeedbackFact.rating)).where(*ratings))
    mean_latency = await session.scalar(select(func.avg(MessageFact.latency_ms)).where(*answers))
    return {
        "date_range": window.as_dict(),
        "days": [
            {
                "date": day.isoformat(),
                "conversations": int(started.get(day, 0)),
                "messages": int(sent.get(day, 0)),
                "leads": int(registered.get(day, 0)),
                "avg_rating": rounded(rating.get(day)),
                "avg_response_time_seconds": seconds(latency.get(day)),
            }
            for day in days
        ],
        "totals": {
            "conversations": sum(int(n) for n in started.values()),
            "messages": sum(int(n) for n in sent.values()),
            "leads": sum(int(n) for n in registered.values()),
            "avg_rating": rounded(mean_rating),
            "avg_response_time_seconds": seconds(mean_latency),
        },
    }


async def agents_side_by_side(session: AsyncSession, facts: Facts, window: Window) -> dict[str, Any]:
    """Every live agent in scope with its conversations, messages, latency, rating and conversions."""
    agents = (await session.execute(select(AgentFact).where(*facts.agents()))).scalars().all()
    numbers = await per_agent(session, facts, window)
    rows: list[dict[str, Any]] = [
        {
            "id": str(agent.agent_id),
            "name": agent.name,
            "status": agent.status,
            "conversations": int(numbers["conversations"].get(agent.agent_id, 0)),
            "messages": int(numbers["total_messages"].get(agent.agent_id, 0)),
            "avg_response_time_seconds": seconds(numbers["response_time"].get(agent.agent_id)),
            "satisfaction_rating": rounded(numbers["satisfaction_rating"].get(agent.agent_id)),
            "conversions": int(numbers["conversions"].get(agent.agent_id, 0)),
        }
        for agent in agents
    ]
    rows.sort(key=lambda r: (-int(r["conversations"]), -int(r["messages"]), str(r["name"] or ""), r["id"]))
    return {"date_range": window.as_dict(), "agents": rows}
