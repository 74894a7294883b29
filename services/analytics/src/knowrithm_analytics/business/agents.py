"""Agent numbers: one agent's report for a window, its comparison with the company, its all-time stats.

Per agent: conversations started, messages sent, answer latency (assistant messages that
report one), tokens, ratings (feedback with a rating), leads and conversions (leads linked to
the agent). Deleted agents answer 404; their conversations still count in company totals.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.business.conversations import TOKENS, activity_timeline
from knowrithm_analytics.business.facts import (
    AgentTotals,
    Conditions,
    Facts,
    counts,
    iso,
    percent,
    rounded,
    seconds,
    within,
)
from knowrithm_analytics.models import (
    AgentFact,
    ConversationFact,
    DocumentFact,
    FeedbackFact,
    LeadFact,
    MessageFact,
)
from knowrithm_analytics.windows import Window
from knowrithm_common.errors import AgentNotFound
from knowrithm_common.queries import AgentsOwner

TOP_AGENTS = 5


async def find_agent(
    session: AsyncSession, agent_id: uuid.UUID, facts: Facts, *, owner: AgentsOwner
) -> AgentFact:
    """A live agent in scope, else 404 `agent_not_found`; one analytics has not seen yet (or holds
    deleted) is asked of the agents service (`owner`) first."""

    async def load() -> AgentFact | None:
        return await session.get(AgentFact, agent_id, populate_existing=True)

    async def serve(_: AgentFact | None) -> AgentFact:
        stmt = select(AgentFact).where(AgentFact.agent_id == agent_id, *facts.agents())
        agent = (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()
        if agent is None:
            raise AgentNotFound()
        return agent

    return await owner.read(agent_id, load=load, serve=serve)


async def _grouped(session: AsyncSession, stmt: Any) -> dict[uuid.UUID, Any]:
    return {agent_id: value for agent_id, value in await session.execute(stmt)}


async def per_agent(
    session: AsyncSession, facts: Facts, window: Window | None
) -> dict[str, dict[uuid.UUID, Any]]:
    """Each agent's conversations, messages, rating, response time (ms) and conversions in `window`."""
    conversations = select(ConversationFact.agent_id, func.count()).where(
        *facts.conversations(),
        *within(ConversationFact.started_at, window),
    )
    messages = select(MessageFact.agent_id, func.count()).where(
        *facts.messages(),
        *within(MessageFact.created_at, window),
    )
    latency = select(MessageFact.agent_id, func.avg(MessageFact.latency_ms)).where(
        *facts.messages(),
        *within(MessageFact.created_at, window),
        MessageFact.role == "assistant",
        MessageFact.latency_ms.is_not(None),
    )
    rating = select(FeedbackFact.agent_id, func.avg(FeedbackFact.rating)).where(
        *facts.feedback(),
        *within(FeedbackFact.created_at, window),
        FeedbackFact.rating.is_not(None),
    )
    conversions = select(LeadFact.agent_id, func.count()).where(
        *facts.leads(),
        LeadFact.status == "converted",
        *within(LeadFact.converted_at, window),
    )
    return {
        "conversations": await _grouped(session, conversations.group_by(ConversationFact.agent_id)),
        "total_messages": await _grouped(session, messages.group_by(MessageFact.agent_id)),
        "response_time": await _grouped(session, latency.group_by(MessageFact.agent_id)),
        "satisfaction_rating": await _grouped(session, rating.group_by(FeedbackFact.agent_id)),
        "conversions": await _grouped(session, conversions.group_by(LeadFact.agent_id)),
    }


def _compare(agent_value: float | None, company_average: float | None) -> dict[str, Any]:
    difference = None
    if agent_value is not None and company_average:
        difference = round((agent_value - company_average) / company_average * 100, 2)
    return {
        "agent_value": agent_value,
        "company_average": company_average,
        "performance_vs_average_percent": difference,
    }


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


async def performance_comparison(session: AsyncSession, agent: AgentFact, window: Window) -> dict[str, Any]:
    """The agent against the mean of its company's live agents.

    Counts average over every live agent (an agent with none counts 0); ratings and response
    times average over the agents that have one.
    """
    facts = Facts(agent.company_id)
    agent_ids = list(await session.scalars(select(AgentFact.agent_id).where(*facts.agents())))
    numbers = await per_agent(session, facts, window)
    comparison: dict[str, Any] = {}
    for name in ("conversations", "total_messages", "conversions"):
        values = numbers[name]
        average = round(sum(values.get(a, 0) for a in agent_ids) / len(agent_ids), 2) if agent_ids else None
        comparison[name] = _compare(int(values.get(agent.agent_id, 0)), average)
    rating = numbers["satisfaction_rating"]
    comparison["satisfaction_rating"] = _compare(
        rounded(rating.get(agent.agent_id)), _mean([float(rating[a]) for a in agent_ids if a in rating])
    )
    latency = numbers["response_time"]
    comparison["response_time"] = _compare(
        seconds(latency.get(agent.agent_id)),
        _mean([float(latency[a]) / 1000 for a in agent_ids if a in latency]),
    )
    return {
        "agent_info": {"id": str(agent.agent_id), "name": agent.name, "status": agent.status},
        "date_range": window.as_dict(),
        "performance_comparison": comparison,
    }


def _lead_of_conversation() -> ColumnElement[bool]:
    return or_(
        LeadFact.conversation_id == ConversationFact.conversation_id,
        and_(ConversationFact.entity_type == "lead", LeadFact.lead_id == ConversationFact.entity_id),
    )


async def _top_sources(session: AsyncSession, conversations: Conditions) -> list[dict[str, Any]]:
    """Conversations by the source of the lead they belong to (those without a lead are left out)."""
    source = func.coalesce(LeadFact.source, "unknown").label("source")
    stmt = (
        select(source, func.count(distinct(ConversationFact.conversation_id)))
        .select_from(ConversationFact)
        .join(LeadFact, and_(_lead_of_conversation(), LeadFact.deleted_at.is_(None)))
        .where(*conversations)
        .group_by(source)
        .order_by(func.count(distinct(ConversationFact.conversation_id)).desc(), source)
    )
    return [{"source": s, "conversation_count": int(c)} for s, c in await session.execute(stmt)]


async def _message_numbers(session: AsyncSession, messages: Conditions) -> dict[str, Any]:
    assistant = MessageFact.role == "assistant"
    timed = and_(assistant, MessageFact.latency_ms.is_not(None))
    stmt = select(
        func.count(),
        func.count().filter(MessageFact.role == "user"),
        func.count().filter(assistant),
        func.count(distinct(MessageFact.conversation_id)),
        func.coalesce(func.sum(TOKENS), 0),
        func.avg(MessageFact.latency_ms).filter(timed),
        func.max(MessageFact.latency_ms).filter(timed),
        func.min(MessageFact.latency_ms).filter(timed),
    ).where(*messages)
    total, user, assistant_count, active, tokens, avg_ms, max_ms, min_ms = (await session.execute(stmt)).one()
    return {
        "message_metrics": {
            "total_messages": int(total),
            "user_messages": int(user),
            "assistant_messages": int(assistant_count),
        },
        "active": int(active),
        "performance_metrics": {
            "avg_response_time_seconds": seconds(avg_ms),
            "max_response_time_seconds": seconds(max_ms),
            "min_response_time_seconds": seconds(min_ms),
        },
        "token_usage": {
            "total_tokens": int(tokens),
            "avg_tokens_per_message": round(int(tokens) / total, 2) if total else None,
        },
    }


async def _quality(
    session: AsyncSession, agent: AgentFact, facts: Facts, window: Window, started: int
) -> dict[str, Any]:
    feedback = [*facts.feedback(), FeedbackFact.agent_id == agent.agent_id, FeedbackFact.rating.is_not(None)]
    on_message = FeedbackFact.message_id.is_not(None)
    in_window = and_(*within(FeedbackFact.created_at, window))
    stmt = select(
        func.avg(FeedbackFact.rating).filter(in_window, on_message),
        func.avg(FeedbackFact.rating).filter(in_window, ~on_message),
        func.avg(FeedbackFact.rating),
    ).where(*feedback)
    per_message, per_conversation, overall = (await session.execute(stmt)).one()
    rated_conversations = await session.scalar(
        select(func.count(distinct(FeedbackFact.conversation_id))).where(
            *feedback,
            ~on_message,
            FeedbackFact.conversation_id.in_(
                select(ConversationFact.conversation_id).where(
                    *facts.conversations(),
                    ConversationFact.agent_id == agent.agent_id,
                    *within(ConversationFact.started_at, window),
                )
            ),
        )
    )
    return {
        "avg_message_feedback": rounded(per_message),
        "avg_satisfaction_rating": rounded(per_conversation),
        "current_agent_rating": rounded(overall),
        "satisfaction_response_rate_percent": percent(rated_conversations, started),
    }


async def _conversions(session: AsyncSession, leads: Conditions) -> dict[str, Any]:
    stmt = select(LeadFact.status, func.count()).where(*leads).group_by(LeadFact.status)
    statuses = counts(await session.execute(stmt))
    return {
        "total_qualified": statuses.get("qualified", 0),
        "total_converted": statuses.get("converted", 0),
        "total_lost": statuses.get("lost", 0),
        "conversion_rate_percent": percent(statuses.get("converted", 0), sum(statuses.values())),
    }


async def agent_report(session: AsyncSession, agent: AgentFact, window: Window) -> dict[str, Any]:
    """One agent over `window`: conversations started, messages, latency, tokens, leads, ratings."""
    facts = Facts(agent.company_id)
    conversations = [
        *facts.conversations(),
        ConversationFact.agent_id == agent.agent_id,
        *within(ConversationFact.started_at, window),
    ]
    started = int(
        await session.scalar(select(func.count()).select_from(ConversationFact).where(*conversations)) or 0
    )
    messages = [
        *facts.messages(),
        MessageFact.agent_id == agent.agent_id,
        *within(MessageFact.created_at, window),
    ]
    numbers = await _message_numbers(session, messages)
    total_messages = numbers["message_metrics"]["total_messages"]
    leads = [*facts.leads(), LeadFact.agent_id == agent.agent_id, *within(LeadFact.registered_at, window)]
    return {
        "agent_info": {
            "id": str(agent.agent_id),
            "name": agent.name,
            "status": agent.status,
            "model_name": agent.model,
        },
        "date_range": window.as_dict(),
        "conversation_metrics": {
            "total_conversations": started,
            "active_conversations": numbers["active"],
            "avg_messages_per_conversation": round(total_messages / numbers["active"], 2)
            if numbers["active"]
            else None,
        },
        "message_metrics": numbers["message_metrics"],
        "performance_metrics": numbers["performance_metrics"],
        "token_usage": numbers["token_usage"],
        "conversion_metrics": await _conversions(session, leads),
        "quality_metrics": await _quality(session, agent, facts, window, started),
        "activity_trend": await activity_timeline(session, messages, None),
        "top_sources": await _top_sources(session, conversations),
    }


async def agent_stats(session: AsyncSession, agent: AgentFact) -> dict[str, Any]:
    """All-time aggregate numbers of one agent (GET /agent/{id}/stats)."""
    facts = Facts(agent.company_id)
    messages = [*facts.messages(), MessageFact.agent_id == agent.agent_id]
    numbers = await _message_numbers(session, messages)
    conversations = await session.scalar(
        select(func.count())
        .select_from(ConversationFact)
        .where(*facts.conversations(), ConversationFact.agent_id == agent.agent_id)
    )
    rating = await session.scalar(
        select(func.avg(FeedbackFact.rating)).where(
            *facts.feedback(), FeedbackFact.agent_id == agent.agent_id
        )
    )
    documents = [*facts.documents(), DocumentFact.agent_id == agent.agent_id]
    document_count, last_trained = (
        await session.execute(
            select(
                func.count(), func.max(DocumentFact.state_time).filter(DocumentFact.status == "processed")
            ).where(*documents)
        )
    ).one()
    leads, converted = (
        await session.execute(
            select(func.count(), func.count().filter(LeadFact.status == "converted")).where(
                *facts.leads(), LeadFact.agent_id == agent.agent_id
            )
        )
    ).one()
    return {
        "agent_id": str(agent.agent_id),
        "agent_name": agent.name,
        "name": agent.name,
        "status": agent.status,
        "created_at": iso(agent.created_at),
        "llm_model": agent.model,
        "llm_provider": None,
        "last_trained": iso(last_trained),
        "documents_count": int(document_count),
        "databases_count": None,
        "total_conversations": int(conversations or 0),
        "total_messages": numbers["message_metrics"]["total_messages"],
        "average_rating": rounded(rating),
        "avg_response_time_seconds": numbers["performance_metrics"]["avg_response_time_seconds"],
        "total_tokens": numbers["token_usage"]["total_tokens"],
        "total_leads": int(leads),
        "converted_leads": int(converted),
        "conversion_rate_percent": percent(converted, leads),
    }


async def agent_analytics(session: AsyncSession, facts: Facts) -> dict[str, Any]:
    """The dashboard's `agent_analytics`: live agents by status, and the busiest ones."""
    statuses = select(AgentFact.status, func.count()).where(*facts.agents()).group_by(AgentFact.status)
    # Ranked in SQL (most conversations, then messages): only the top rows leave the database,
    # whatever the number of agents (a super admin's view covers every company).
    totals = AgentTotals.of(facts)
    n_conversations = func.coalesce(totals.conversations.c.n, 0)
    n_messages = func.coalesce(totals.messages.c.n, 0)
    columns = (AgentFact.name, AgentFact.status, n_conversations, n_messages, totals.ratings.c.avg)
    top = (
        totals.joined(select(*columns))
        .where(*facts.agents())
        .order_by(n_conversations.desc(), n_messages.desc(), AgentFact.name, AgentFact.agent_id)
        .limit(TOP_AGENTS)
    )
    return {
        "agent_status_distribution": counts(await session.execute(statuses)),
        "top_performing_agents": [
            {
                "name": name,
                "status": status,
                "total_conversations": int(n_conv),
                "total_messages": int(n_msg),
                "average_rating": rounded(rating),
            }
            for name, status, n_conv, n_msg, rating in await session.execute(top)
        ],
    }
