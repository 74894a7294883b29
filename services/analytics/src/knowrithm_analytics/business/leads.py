"""Lead funnel numbers: status distribution, sources, new leads per day, consent, conversion rate.

Leads are counted by when they registered. The funnel's statuses are always present (0 when
none); a status outside them still shows up under its own name. Data-processing consent does
not travel in lead events (only marketing consent does): `data_consent_rate` is null.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.business.facts import Conditions, Facts, counts, day_of, iso, percent, within
from knowrithm_analytics.models import LeadFact, MessageFact
from knowrithm_analytics.windows import Window

FUNNEL = ("new", "contacted", "qualified", "converted", "lost")


async def status_distribution(session: AsyncSession, leads: Conditions) -> dict[str, int]:
    stmt = select(LeadFact.status, func.count()).where(*leads).group_by(LeadFact.status)
    return counts(await session.execute(stmt), keys=FUNNEL)


async def lead_analytics(
    session: AsyncSession, facts: Facts, window: Window | None, *, timeline: Window | None = None
) -> dict[str, Any]:
    """The funnel of the leads registered in `window` (every live lead without one).

    `daily_new_leads` covers the days of `timeline` too, when one is given (the dashboard's 30 days).
    """
    leads = [*facts.leads(), *within(LeadFact.registered_at, window)]
    sources = select(LeadFact.source, func.count()).where(*leads).group_by(LeadFact.source)
    day = day_of(LeadFact.registered_at).label("day")
    daily = (
        select(day, func.count())
        .where(*leads, LeadFact.registered_at.is_not(None), *within(LeadFact.registered_at, timeline))
        .group_by(day)
        .order_by(day)
    )
    total, marketing = (
        await session.execute(
            select(func.count(), func.count().filter(LeadFact.consent_marketing.is_(True))).where(*leads)
        )
    ).one()
    statuses = await status_distribution(session, leads)
    return {
        "lead_status_distribution": statuses,
        "lead_sources": counts(await session.execute(sources)),
        "daily_new_leads": [{"date": iso(d), "count": int(c)} for d, c in await session.execute(daily)],
        "consent_analytics": {
            "total_leads": int(total),
            "marketing_consent_rate": percent(marketing, total),
            "data_consent_rate": None,
        },
        "conversion_rate_percent": percent(statuses["converted"], total),
    }


async def company_statistics(session: AsyncSession, facts: Facts, window: Window) -> dict[str, Any]:
    """Leads registered in the window, how many are qualified, conversion, conversations active in it."""
    leads = [*facts.leads(), *within(LeadFact.registered_at, window)]
    total, qualified, converted = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(LeadFact.status == "qualified"),
                func.count().filter(LeadFact.status == "converted"),
            ).where(*leads)
        )
    ).one()
    active = await session.scalar(
        select(func.count(distinct(MessageFact.conversation_id))).where(
            *facts.messages(), *within(MessageFact.created_at, window)
        )
    )
    return {
        "total_leads": int(total),
        "qualified_leads": int(qualified),
        "conversion_rate": percent(converted, total),
        "active_conversations": int(active or 0),
        "period_days": window.days,
    }
