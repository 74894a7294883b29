"""HTTP API of company analytics: dashboard, agents, conversations, leads, usage, company statistics.

Every member of a company reads (`CompanyRead`: API keys need `read`); numbers cover the
caller's company, super admins' every company or `?company_id=`. Conversations follow the
conversations service's rule: admins see every conversation of the company, other users only
their own.
Another company's (or an unknown) agent or conversation answers 404, like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from knowrithm_analytics.business import agents as agent_numbers
from knowrithm_analytics.business.conversations import (
    conversation_analytics,
    find_conversation,
    one_conversation,
)
from knowrithm_analytics.business.dashboard import dashboard
from knowrithm_analytics.business.facts import ConversationNotFound, Facts
from knowrithm_analytics.business.leads import company_statistics, lead_analytics
from knowrithm_analytics.business.trends import agents_side_by_side, daily_trends
from knowrithm_analytics.business.usage import usage_analytics
from knowrithm_analytics.models import AgentFact
from knowrithm_analytics.projections.repository import company_in_path
from knowrithm_analytics.windows import DateWindow, last_days
from knowrithm_common.db import RequestSession
from knowrithm_common.errors import Forbidden
from knowrithm_common.identity import Role
from knowrithm_common.openapi import errors
from knowrithm_common.queries import Agents
from knowrithm_common.tenancy import (
    COMPANY_NOT_FOUND,
    MEMBERS,
    CompanyRead,
    Subject,
    subject_dependency,
)

router = APIRouter(tags=["Analytics"], responses=COMPANY_NOT_FOUND)

V1 = "/api/v1"
Days = Query(30, ge=1, le=3650, description="days to look back")
# A member, for `company/{company_id}/statistics`: the company is in the path, not `?company_id=`.
MemberOfPathCompany = Annotated[Subject, Depends(subject_dependency(MEMBERS, "read", company_query=False))]


def viewer_facts(subject: Subject) -> Facts:
    """Admins see the company; other users only what is their own."""
    principal = subject.principal
    if principal.role in (Role.ADMIN, Role.SUPER_ADMIN):
        return Facts(subject.company_id)
    if principal.user_id is None:
        raise Forbidden("Personal analytics need a user")
    return Facts(subject.company_id, user_id=principal.user_id)


async def company_agent(
    agent_id: uuid.UUID, subject: CompanyRead, session: RequestSession, agents: Agents
) -> AgentFact:
    """Dependency: the live agent `agent_id` of the subject's company, else 404 `agent_not_found`."""
    return await agent_numbers.find_agent(session, agent_id, Facts(subject.company_id), owner=agents)


CompanyAgent = Annotated[AgentFact, Depends(company_agent)]

# Routes take the subject first: who may read is decided before the dates or ids are looked at.


@router.get(f"{V1}/analytic/dashboard")
async def get_dashboard(subject: CompanyRead, session: RequestSession) -> dict[str, Any]:
    """Documents, conversations, leads, agents, activity, security and system numbers in one answer."""
    return await dashboard(session, subject.principal, viewer_facts(subject))


@router.get(f"{V1}/analytic/agent/{{agent_id}}", responses=errors(400))
async def get_agent_analytics(
    subject: CompanyRead, window: DateWindow, agent: CompanyAgent, session: RequestSession
) -> dict[str, Any]:
    """One agent over a date range: conversations, messages, latency, tokens, leads, ratings, trend."""
    return await agent_numbers.agent_report(session, agent, window)


@router.get(f"{V1}/analytic/agent/{{agent_id}}/performance-comparison", responses=errors(400))
async def get_agent_comparison(
    subject: CompanyRead, window: DateWindow, agent: CompanyAgent, session: RequestSession
) -> dict[str, Any]:
    """An agent against the average of its company's agents over a date range."""
    return await agent_numbers.performance_comparison(session, agent, window)


@router.get(f"{V1}/analytic/conversation/{{conversation_id}}")
async def get_conversation_analytics(
    subject: CompanyRead, conversation_id: uuid.UUID, session: RequestSession
) -> dict[str, Any]:
    """One conversation: messages, roles, tokens, latency, ratings, activity per day, its lead."""
    conversation = await find_conversation(session, conversation_id, viewer_facts(subject).conversations())
    if conversation is None:
        raise ConversationNotFound()
    report = await conversation_analytics(session, one_conversation(conversation), timeline=None)
    return {
        "conversation_id": str(conversation.conversation_id),
        "agent_id": str(conversation.agent_id),
        **report,
    }


@router.get(f"{V1}/analytic/leads", responses=errors(400))
async def get_lead_analytics(
    subject: CompanyRead, window: DateWindow, session: RequestSession
) -> dict[str, Any]:
    """The lead funnel of the leads registered in a date range."""
    funnel = await lead_analytics(session, Facts(subject.company_id), window)
    return {"date_range": window.as_dict(), **funnel}


@router.get(f"{V1}/analytic/trends", responses=errors(400))
async def get_trends(subject: CompanyRead, window: DateWindow, session: RequestSession) -> dict[str, Any]:
    """Per UTC day of a date range (at most 366 days): conversations, messages, leads, rating, latency."""
    return await daily_trends(session, viewer_facts(subject), window)


@router.get(f"{V1}/analytic/agents", responses=errors(400))
async def get_agents_side_by_side(
    subject: CompanyRead, window: DateWindow, session: RequestSession
) -> dict[str, Any]:
    """Every live agent over a date range: conversations, messages, latency, rating, conversions."""
    return await agents_side_by_side(session, viewer_facts(subject), window)


@router.get(f"{V1}/analytic/usage", responses=errors(400))
async def get_usage_analytics(
    subject: CompanyRead, window: DateWindow, session: RequestSession
) -> dict[str, Any]:
    """API calls, agents, tokens and storage of the company over a date range.

    Every member sees the company's numbers; the clients' IP addresses only admins
    (`top_client_ips` is null for the others, as for API-key analytics).
    """
    usage = await usage_analytics(session, Facts(subject.company_id), window, dt.datetime.now(dt.UTC))
    if subject.principal.role not in (Role.ADMIN, Role.SUPER_ADMIN):
        usage["top_client_ips"] = None
    return usage


async def _statistics(session: RequestSession, facts: Facts, days: int) -> dict[str, Any]:
    window = last_days(dt.datetime.now(dt.UTC), days)
    statistics = await company_statistics(session, facts, window)
    statistics["period_days"] = days
    return {"success": True, "statistics": statistics}


@router.get(f"{V1}/company/statistics", tags=["Companies"])
async def get_company_statistics(
    subject: CompanyRead, session: RequestSession, days: int = Days
) -> dict[str, Any]:
    """Lead statistics of the caller's company over the last `days` days."""
    return await _statistics(session, Facts(subject.company_id), days)


@router.get(f"{V1}/company/{{company_id}}/statistics", tags=["Companies"])
async def get_statistics_of_company(
    subject: MemberOfPathCompany, company_id: uuid.UUID, session: RequestSession, days: int = Days
) -> dict[str, Any]:
    """Lead statistics of one company: members their own, super admins any known company."""
    return await _statistics(session, Facts(await company_in_path(session, subject, company_id)), days)


@router.get(f"{V1}/agent/{{agent_id}}/stats", tags=["Agents"])
async def get_agent_stats(
    subject: CompanyRead, agent: CompanyAgent, session: RequestSession
) -> dict[str, Any]:
    """All-time aggregate numbers of one agent."""
    return await agent_numbers.agent_stats(session, agent)
