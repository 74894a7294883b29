"""GET /analytic/dashboard: every section of the Knowrithm dashboard, computed from the projections.

Admins see their company, super admins every company (or `?company_id=`), other users their
own data (`scope` "personal": their conversations, the messages and feedback in them, their
documents, the agents they talked to, the database connections they created, their own account
and audit entries). Totals are all-time; timelines cover the last 30 days (new users 90 days,
risk levels 7 days). Only days with activity appear in a timeline. `database_analytics` is
explained in business/databases.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.business import people
from knowrithm_analytics.business.agents import agent_analytics
from knowrithm_analytics.business.conversations import ConversationRows, conversation_analytics
from knowrithm_analytics.business.databases import connection_count, database_analytics
from knowrithm_analytics.business.documents import document_analytics, performance_analytics
from knowrithm_analytics.business.facts import Facts
from knowrithm_analytics.business.leads import lead_analytics
from knowrithm_analytics.models import ConversationFact, DocumentFact, LeadFact
from knowrithm_analytics.windows import last_days
from knowrithm_common.identity import Principal

TIMELINE_DAYS = 30


async def _count(session: AsyncSession, model: Any, conditions: list[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


async def core_metrics(session: AsyncSession, facts: Facts) -> dict[str, Any]:
    return {
        "scope": "personal" if facts.personal else "company",
        "conversation_count": await _count(session, ConversationFact, facts.conversations()),
        "document_count": await _count(session, DocumentFact, facts.documents()),
        "lead_count": await _count(session, LeadFact, facts.leads()),
        "total_users": await people.user_count(session, facts),
        "connection_count": await connection_count(session, facts),
    }


async def dashboard(session: AsyncSession, principal: Principal, facts: Facts) -> dict[str, Any]:
    """The whole dashboard for `facts` as seen by `principal`."""
    now = dt.datetime.now(dt.UTC)
    timeline = last_days(now, TIMELINE_DAYS)
    rows = ConversationRows(
        conversations=facts.conversations(),
        messages=facts.messages(),
        feedback=facts.feedback(),
        leads=facts.leads(),
    )
    leads = await lead_analytics(session, facts, None, timeline=timeline)
    leads.pop("conversion_rate_percent")
    return {
        "generated_at": now.isoformat(),
        "user_context": await people.user_context(session, principal),
        "core_metrics": await core_metrics(session, facts),
        "company_analytics": await people.company_analytics(session, facts, now),
        "conversation_analytics": await conversation_analytics(session, rows, timeline=timeline),
        "lead_analytics": leads,
        "agent_analytics": await agent_analytics(session, facts),
        "document_analytics": await document_analytics(session, facts, timeline),
        "performance_analytics": await performance_analytics(session, facts),
        "database_analytics": await database_analytics(session, facts),
        "activity_analytics": await people.activity_analytics(session, facts, now),
        "security_analytics": await people.security_analytics(session, facts, now),
        "user_management": await people.user_management(session, facts, now),
        "system_metrics": await people.system_metrics(session, facts, now),
    }
