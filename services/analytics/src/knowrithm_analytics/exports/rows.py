"""What each export holds: one query per type, over the projections, for one company and window.

- conversations: live conversations started in the window, with their message count, tokens
  and last activity;
- leads: live leads registered in the window: ids, status, source, channel, agent, consent,
  dates. Never names, e-mails or phones: analytics does not have them (events carry none);
- agents: live agents created in the window, with their conversations, messages and rating;
- usage: the gateway's records of the company's requests in the window (`usage_logs`).

Rows come in a stable order (time, then id) so a large export can be read in one pass.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.business.conversations import TOKENS
from knowrithm_analytics.business.facts import AgentTotals, Facts
from knowrithm_analytics.models import (
    AgentFact,
    ApiRequestFact,
    ConversationFact,
    LeadFact,
    MessageFact,
)


@dataclass(frozen=True, slots=True)
class Range:
    """The export's window: `start` (None: from the beginning) <= time < `end`."""

    start: dt.datetime | None
    end: dt.datetime

    def conditions(self, column: Any) -> list[Any]:
        return [column < self.end] + ([] if self.start is None else [column >= self.start])

    def as_dict(self) -> dict[str, str | None]:
        return {
            "start_date": None if self.start is None else self.start.isoformat(),
            "end_date": self.end.isoformat(),
        }


def _conversations(facts: Facts, window: Range) -> Select:
    messages = (
        select(
            MessageFact.conversation_id,
            func.count().label("message_count"),
            func.coalesce(func.sum(TOKENS), 0).label("total_tokens"),
            func.max(MessageFact.created_at).label("last_activity"),
        )
        .where(*facts.messages())
        .group_by(MessageFact.conversation_id)
        .subquery()
    )
    return (
        select(
            ConversationFact.conversation_id.label("id"),
            ConversationFact.agent_id,
            AgentFact.name.label("agent_name"),
            ConversationFact.entity_type,
            ConversationFact.entity_id,
            ConversationFact.started_at,
            func.coalesce(messages.c.message_count, 0).label("message_count"),
            func.coalesce(messages.c.total_tokens, 0).label("total_tokens"),
            messages.c.last_activity,
        )
        .outerjoin(messages, messages.c.conversation_id == ConversationFact.conversation_id)
        .outerjoin(AgentFact, AgentFact.agent_id == ConversationFact.agent_id)
        .where(*facts.conversations(), *window.conditions(ConversationFact.started_at))
        .order_by(ConversationFact.started_at, ConversationFact.conversation_id)
    )


def _leads(facts: Facts, window: Range) -> Select:
    return (
        select(
            LeadFact.lead_id.label("id"),
            LeadFact.agent_id,
            LeadFact.conversation_id,
            LeadFact.status,
            LeadFact.source,
            LeadFact.channel,
            LeadFact.consent_marketing,
            LeadFact.registered_at,
            LeadFact.converted_at,
        )
        .where(*facts.leads(), *window.conditions(LeadFact.registered_at))
        .order_by(LeadFact.registered_at, LeadFact.lead_id)
    )


def _agents(facts: Facts, window: Range) -> Select:
    totals = AgentTotals.of(facts)
    return totals.joined(
        select(
            AgentFact.agent_id.label("id"),
            AgentFact.name,
            AgentFact.status,
            AgentFact.model,
            AgentFact.created_at,
            func.coalesce(totals.conversations.c.n, 0).label("total_conversations"),
            func.coalesce(totals.messages.c.n, 0).label("total_messages"),
            func.round(totals.ratings.c.avg, 2).label("average_rating"),
        )
    ).where(*facts.agents(), *window.conditions(AgentFact.created_at)).order_by(
        AgentFact.created_at, AgentFact.agent_id
    )


def _usage(facts: Facts, window: Range) -> Select:
    return (
        select(
            ApiRequestFact.request_id.label("id"),
            ApiRequestFact.time.label("created_at"),
            ApiRequestFact.route.label("endpoint"),
            ApiRequestFact.method,
            ApiRequestFact.status.label("status_code"),
            ApiRequestFact.latency_ms.label("response_time_ms"),
            ApiRequestFact.ip.label("ip_address"),
        )
        .where(*facts.requests(), *window.conditions(ApiRequestFact.time))
        .order_by(ApiRequestFact.time, ApiRequestFact.request_id)
    )


@dataclass(frozen=True, slots=True)
class ExportKind:
    """One export type: the key its rows go under in JSON, and its query."""

    key: str
    query: Callable[[Facts, Range], Select]


KINDS: dict[str, ExportKind] = {
    "conversations": ExportKind("conversations", _conversations),
    "leads": ExportKind("leads", _leads),
    "agents": ExportKind("agents", _agents),
    "usage": ExportKind("usage_logs", _usage),
}
FORMATS = ("json", "csv")


def export_query(export_type: str, company_id: uuid.UUID, window: Range) -> Select:
    return KINDS[export_type].query(Facts(company_id), window)


async def count_rows(session: AsyncSession, query: Select) -> int:
    """How many rows `query` gives."""
    return int(await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
