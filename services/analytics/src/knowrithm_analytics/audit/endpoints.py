"""The audit-log browser: who did what, on what, with which outcome, newest first.

Admins (and their API keys with the `admin` scope) browse their company's log; super admins
every company's, or one with `?company_id=`. Everyone else gets 403.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from knowrithm_analytics.audit.repository import AuditFilter, browse
from knowrithm_analytics.models import AuditEntry
from knowrithm_analytics.scope import CompanyScope, parse_instant, window_of
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Role, require_roles, require_scopes
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import PageParams, Pagination, page_params

router = APIRouter(
    tags=["Audit Log"],
    dependencies=[Depends(require_roles(Role.SUPER_ADMIN, Role.ADMIN)), Depends(require_scopes(["admin"]))],
)


class AuditActor(BaseModel):
    kind: str
    id: uuid.UUID | None
    impersonator_id: uuid.UUID | None
    ip: str | None
    user_agent: str | None


class AuditTarget(BaseModel):
    type: str | None
    id: str | None


class AuditLogEntry(BaseModel):
    id: str
    timestamp: dt.datetime
    company_id: uuid.UUID | None
    category: str
    action: str
    outcome: str
    risk_level: str
    actor: AuditActor
    target: AuditTarget
    reason: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditLogEntry:
        return cls(
            id=entry.event_id,
            timestamp=entry.time,
            company_id=entry.company_id,
            category=entry.category,
            action=entry.action,
            outcome=entry.outcome,
            risk_level=entry.risk_level,
            actor=AuditActor(
                kind=entry.actor_kind,
                id=entry.actor_id,
                impersonator_id=entry.impersonator_id,
                ip=entry.ip,
                user_agent=entry.user_agent,
            ),
            target=AuditTarget(type=entry.target_type, id=entry.target_id),
            reason=entry.reason,
            detail=entry.detail or {},
        )


class AuditLogPage(BaseModel):
    audit_logs: list[AuditLogEntry]
    pagination: Pagination


class AuditQuery(BaseModel):
    """The browser's filters, read from the query string."""

    actor_id: uuid.UUID | None = None
    actor_kind: str | None = None
    action: str | None = None
    category: str | None = None
    outcome: Literal["success", "failure"] | None = None
    risk_level: Literal["low", "medium", "high", "critical"] | None = None
    target_type: str | None = None
    target_id: str | None = None
    start_date: str | None = None
    end_date: str | None = None


@router.get("/api/v1/audit-log", responses=errors(400))
async def audit_log(
    session: Session,
    scope: CompanyScope,
    filters: Annotated[AuditQuery, Query()],
    page: Annotated[PageParams, Depends(page_params)],
) -> AuditLogPage:
    """Browse the audit log, newest first. `action` is exact, or a prefix ending in `*` (`company.*`);
    `start_date`/`end_date` are ISO 8601 (start inclusive, end exclusive)."""
    start = parse_instant(filters.start_date, "start_date")
    end = parse_instant(filters.end_date, "end_date")
    if start is not None and end is not None:
        window_of(start, end)  # 400 invalid_date_range when the start is after the end
    where = AuditFilter(
        company_id=scope.company_id,
        **filters.model_dump(exclude={"start_date", "end_date"}),
        start=start,
        end=end,
    )
    entries, pagination = await browse(session, where, page)
    return AuditLogPage(audit_logs=[AuditLogEntry.of(e) for e in entries], pagination=pagination)
