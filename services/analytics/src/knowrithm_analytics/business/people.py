"""The dashboard's people sections: who is asking, the company, users, logins, security, system health.

What auth does not publish stays null: e-mail verification, two-factor and lock-outs of users;
the company's e-mail, address, phone, logo, active and verified flags; session lengths
(sign-outs are not events). Logins are the successful `user.login` entries of the audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.business.facts import (
    Facts,
    company_live,
    counts,
    day_of,
    iso,
    rounded,
    within,
)
from knowrithm_analytics.models import (
    ApiRequestFact,
    AuditEntry,
    CompanyRegistration,
    SystemMetricSample,
    UserRegistration,
)
from knowrithm_analytics.windows import last_days
from knowrithm_common.identity import Principal, Role

RECENT_AUDIT_EVENTS = 10
RISK_LEVELS = ("low", "medium", "high", "critical")


async def user_count(session: AsyncSession, facts: Facts) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(UserRegistration).where(*facts.users())) or 0
    )


async def user_context(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    """Who the dashboard is for."""
    username = None
    if principal.user_id is not None:
        username = await session.scalar(
            select(UserRegistration.username).where(UserRegistration.user_id == principal.user_id)
        )
    return {
        "user_id": None if principal.user_id is None else str(principal.user_id),
        "username": username,
        "company_id": None if principal.company_id is None else str(principal.company_id),
        "role": principal.role.value,
        "is_admin": principal.role in (Role.ADMIN, Role.SUPER_ADMIN),
        "email_verified": None,
        "two_factor_enabled": None,
    }


async def _company_info(session: AsyncSession, facts: Facts) -> dict[str, Any] | None:
    if facts.company_id is None:
        return None  # every company: no single company to describe
    company = await session.get(CompanyRegistration, facts.company_id)
    if company is not None and company.deleted_at is not None:
        return None
    return {
        "id": str(facts.company_id),
        "name": company.name if company is not None and company.name else None,
        "created_at": iso(company.registered_at) if company is not None else None,
        "updated_at": iso(company.updated_at) if company is not None and company.updated_at else None,
        "email": company.email if company is not None else None,
        "phone": None,
        "address": None,
        "logo": None,
        "is_active": company.is_active if company is not None else None,
        "is_verified": None,
    }


async def company_analytics(session: AsyncSession, facts: Facts, now: dt.datetime) -> dict[str, Any]:
    """The company and its new users per day over the last 90 days."""
    day = day_of(UserRegistration.registered_at).label("day")
    growth = (
        select(day, func.count())
        .where(*facts.users(), *within(UserRegistration.registered_at, last_days(now, 90)))
        .group_by(day)
        .order_by(day)
    )
    return {
        "company_info": await _company_info(session, facts),
        "user_growth_90days": [
            {"date": iso(d), "new_users": int(c)} for d, c in await session.execute(growth)
        ],
    }


async def activity_analytics(session: AsyncSession, facts: Facts, now: dt.datetime) -> dict[str, Any]:
    """Successful logins over the last 30 days: per day (distinct users) and in total."""
    logins = [
        *facts.audit(),
        AuditEntry.action == "user.login",
        AuditEntry.outcome == "success",
        *within(AuditEntry.time, last_days(now, 30)),
    ]
    day = day_of(AuditEntry.time).label("day")
    timeline = (
        select(day, func.count(distinct(AuditEntry.actor_id))).where(*logins).group_by(day).order_by(day)
    )
    total, addresses = (
        await session.execute(select(func.count(), func.count(distinct(AuditEntry.ip))).where(*logins))
    ).one()
    return {
        "login_timeline": [
            {"date": iso(d), "unique_logins": int(c)} for d, c in await session.execute(timeline)
        ],
        "session_analytics": {
            "total_sessions": int(total),
            "unique_ip_addresses": int(addresses),
            "average_session_duration_minutes": None,
        },
    }


async def security_analytics(session: AsyncSession, facts: Facts, now: dt.datetime) -> dict[str, Any]:
    """The newest audit entries, risk levels over 7 days, and the users' security state."""
    recent = (
        select(AuditEntry, UserRegistration.username)
        .outerjoin(UserRegistration, UserRegistration.user_id == AuditEntry.actor_id)
        .where(*facts.audit())
        .order_by(AuditEntry.time.desc(), AuditEntry.event_id.desc())
        .limit(RECENT_AUDIT_EVENTS)
    )
    risks = (
        select(AuditEntry.risk_level, func.count())
        .where(*facts.audit(), *within(AuditEntry.time, last_days(now, 7)))
        .group_by(AuditEntry.risk_level)
    )
    return {
        "recent_audit_events": [
            {
                "event_type": entry.action,
                "category": entry.category,
                "risk_level": entry.risk_level,
                "timestamp": iso(entry.time),
                "username": username
                if username is not None
                else ("System" if entry.actor_id is None else None),
            }
            for entry, username in await session.execute(recent)
        ],
        "risk_distribution_7days": {
            level: count
            for level, count in counts(await session.execute(risks), keys=RISK_LEVELS).items()
            if level in RISK_LEVELS
        },
        "user_security_status": {
            "total_users": await user_count(session, facts),
            "verified_users": None,
            "two_factor_enabled": None,
            "locked_users": None,
        },
    }


async def user_management(session: AsyncSession, facts: Facts, now: dt.datetime) -> dict[str, Any]:
    """Users by role and status, and how many made a request in the last 24 hours."""
    roles = select(UserRegistration.role, func.count()).where(*facts.users()).group_by(UserRegistration.role)
    statuses = (
        select(UserRegistration.status, func.count()).where(*facts.users()).group_by(UserRegistration.status)
    )
    active = await session.scalar(
        select(func.count(distinct(ApiRequestFact.user_id))).where(
            *facts.requests(),
            ApiRequestFact.user_id.is_not(None),
            *within(ApiRequestFact.time, last_days(now, 1)),
        )
    )
    return {
        "active_users_24h": int(active or 0),
        "role_distribution": counts(await session.execute(roles)),
        "user_status_distribution": counts(await session.execute(statuses)),
    }


async def system_metrics(session: AsyncSession, facts: Facts, now: dt.datetime) -> dict[str, Any]:
    """24-hour average, minimum and maximum of each sampled metric (the company's, or the platform's)."""
    if facts.personal:
        return {"system_health": []}
    owner = (
        SystemMetricSample.company_id.is_(None)
        if facts.company_id is None
        else SystemMetricSample.company_id == facts.company_id
    )
    stmt = (
        select(
            SystemMetricSample.metric_name,
            SystemMetricSample.metric_type,
            func.avg(SystemMetricSample.value),
            func.min(SystemMetricSample.value),
            func.max(SystemMetricSample.value),
        )
        .where(
            owner,
            company_live(SystemMetricSample.company_id),
            *within(SystemMetricSample.time, last_days(now, 1)),
        )
        .group_by(SystemMetricSample.metric_name, SystemMetricSample.metric_type)
        .order_by(SystemMetricSample.metric_name)
    )
    return {
        "system_health": [
            {
                "metric_name": name,
                "metric_type": kind,
                "average_24h": rounded(avg, 3),
                "min_24h": rounded(low, 3),
                "max_24h": rounded(high, 3),
            }
            for name, kind, avg, low, high in await session.execute(stmt)
        ]
    }
