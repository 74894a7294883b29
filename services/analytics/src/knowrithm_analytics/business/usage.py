"""Platform usage of a company over a window: API calls (every credential), agents, tokens, storage.

API calls are the gateway's records of the company's requests, whatever the credential (user
tokens, API keys, leads); success is a status below 400. Storage and the agent and key counts
are the state now; everything else counts what happened inside the window.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.business.conversations import TOKENS
from knowrithm_analytics.business.facts import Facts, day_of, iso, percent, rounded, within
from knowrithm_analytics.models import (
    AgentFact,
    ApiKeyFact,
    ApiRequestFact,
    ConversationFact,
    DocumentFact,
    FeedbackFact,
    MessageFact,
)
from knowrithm_analytics.windows import Window

TOP_ENDPOINTS = 20
TOP_IPS = 10
FAILED = ApiRequestFact.status >= 400


async def _api_usage(session: AsyncSession, facts: Facts, window: Window, now: dt.datetime) -> dict[str, Any]:
    requests = [*facts.requests(), *within(ApiRequestFact.time, window)]
    total, errors, latency = (
        await session.execute(
            select(func.count(), func.count().filter(FAILED), func.avg(ApiRequestFact.latency_ms)).where(
                *requests
            )
        )
    ).one()
    keys = await session.scalar(
        select(func.count())
        .select_from(ApiKeyFact)
        .where(
            *facts.of_company(ApiKeyFact.company_id),
            ApiKeyFact.revoked_at.is_(None),
            or_(ApiKeyFact.expires_at.is_(None), ApiKeyFact.expires_at > now),
        )
    )
    return {
        "total_api_calls": int(total),
        "success_count": int(total) - int(errors),
        "error_count": int(errors),
        "error_rate_percent": percent(errors, total),
        "avg_response_time_ms": rounded(latency),
        "active_api_keys": int(keys or 0),
    }


async def _endpoints(session: AsyncSession, facts: Facts, window: Window) -> list[dict[str, Any]]:
    count = func.count()
    stmt = (
        select(ApiRequestFact.route, ApiRequestFact.method, count, func.avg(ApiRequestFact.latency_ms))
        .where(*facts.requests(), *within(ApiRequestFact.time, window))
        .group_by(ApiRequestFact.route, ApiRequestFact.method)
        .order_by(count.desc(), ApiRequestFact.route, ApiRequestFact.method)
        .limit(TOP_ENDPOINTS)
    )
    return [
        {
            "endpoint": route,
            "method": method,
            "call_count": int(calls),
            "avg_response_time_ms": rounded(latency),
        }
        for route, method, calls, latency in await session.execute(stmt)
    ]


async def _daily(session: AsyncSession, facts: Facts, window: Window) -> list[dict[str, Any]]:
    day = day_of(ApiRequestFact.time).label("day")
    stmt = (
        select(day, func.count(), func.count().filter(FAILED))
        .where(*facts.requests(), *within(ApiRequestFact.time, window))
        .group_by(day)
        .order_by(day)
    )
    return [
        {
            "date": iso(d),
            "api_calls": int(calls),
            "errors": int(errors),
            "success_rate_percent": percent(int(calls) - int(errors), calls),
        }
        for d, calls, errors in await session.execute(stmt)
    ]


async def _client_ips(session: AsyncSession, facts: Facts, window: Window) -> list[dict[str, Any]]:
    count = func.count()
    stmt = (
        select(ApiRequestFact.ip, count)
        .where(*facts.requests(), *within(ApiRequestFact.time, window), ApiRequestFact.ip.is_not(None))
        .group_by(ApiRequestFact.ip)
        .order_by(count.desc(), ApiRequestFact.ip)
        .limit(TOP_IPS)
    )
    return [{"ip_address": ip, "request_count": int(n)} for ip, n in await session.execute(stmt)]


async def _agents(session: AsyncSession, facts: Facts, window: Window) -> dict[str, Any]:
    total, active = (
        await session.execute(
            select(func.count(), func.count().filter(AgentFact.status == "active")).where(*facts.agents())
        )
    ).one()
    conversations = await session.scalar(
        select(func.count())
        .select_from(ConversationFact)
        .where(*facts.conversations(), *within(ConversationFact.started_at, window))
    )
    messages = await session.scalar(
        select(func.count())
        .select_from(MessageFact)
        .where(*facts.messages(), *within(MessageFact.created_at, window))
    )
    rating = await session.scalar(
        select(func.avg(FeedbackFact.rating)).where(
            *facts.feedback(), *within(FeedbackFact.created_at, window)
        )
    )
    return {
        "total_agents": int(total),
        "active_agents": int(active),
        "avg_agent_rating": rounded(rating),
        "total_conversations": int(conversations or 0),
        "total_messages": int(messages or 0),
    }


async def _tokens_and_storage(session: AsyncSession, facts: Facts, window: Window) -> dict[str, Any]:
    in_window = within(MessageFact.created_at, window)
    messages, tokens, stored = (
        await session.execute(
            select(
                func.count().filter(*in_window),
                func.coalesce(func.sum(TOKENS).filter(*in_window), 0),
                func.count(),
            ).where(*facts.messages())
        )
    ).one()
    size = await session.scalar(
        select(func.coalesce(func.sum(DocumentFact.file_size), 0)).where(*facts.documents())
    )
    conversations = await session.scalar(
        select(func.count()).select_from(ConversationFact).where(*facts.conversations())
    )
    return {
        "token_usage": {
            "total_tokens": int(tokens),
            "total_messages_processed": int(messages),
            "avg_tokens_per_message": round(int(tokens) / messages, 2) if messages else None,
        },
        "storage_usage": {
            "total_content_size_bytes": int(size or 0),
            "total_conversations": int(conversations or 0),
            "total_messages": int(stored),
        },
    }


async def usage_analytics(
    session: AsyncSession, facts: Facts, window: Window, now: dt.datetime
) -> dict[str, Any]:
    """GET /analytic/usage over `window`."""
    return {
        "date_range": window.as_dict(),
        "api_usage": await _api_usage(session, facts, window, now),
        "endpoint_usage": await _endpoints(session, facts, window),
        "daily_usage_trend": await _daily(session, facts, window),
        "top_client_ips": await _client_ips(session, facts, window),
        "agent_usage": await _agents(session, facts, window),
        **await _tokens_and_storage(session, facts, window),
    }
