"""The audit-log browser: who did what, on what, with which outcome, newest first.

Admins (and their API keys with the `admin` scope: `CompanyAdmin`) browse their company's log;
super admins every company's, or one with `?company_id=`. Everyone else gets 403.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, model_validator

from knowrithm_analytics.audit.repository import MAX_OFFSET, AuditFilter, Slice, browse
from knowrithm_analytics.models import AuditEntry
from knowrithm_analytics.windows import parse_instant, window_of
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import MAX_PER_PAGE, Page, Pagination
from knowrithm_common.tenancy import COMPANY_NOT_FOUND, CompanyAdmin

router = APIRouter(tags=["Audit Log"], responses=COMPANY_NOT_FOUND)


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
    """The browser's filters, read from the query string.

    `event_type` and `entity_type` are the names the seed's platform and the official SDK
    (`admin.get_audit_logs`) give `action` and `target_type`; either name works, not two values.
    """

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
    event_type: str | None = None
    entity_type: str | None = None

    @model_validator(mode="after")
    def _one_value_per_filter(self) -> AuditQuery:
        for name, alias in (("action", "event_type"), ("target_type", "entity_type")):
            value, other = getattr(self, name), getattr(self, alias)
            if value is not None and other is not None and value != other:
                raise ValueError(f"{name} and {alias} name the same filter: give one value")
        return self


def audit_slice(
    page: Page,
    limit: int | None = Query(None, ge=1, le=MAX_PER_PAGE, description="entries after `offset` (SDK paging)"),
    offset: int | None = Query(None, ge=0, le=MAX_OFFSET, description="entries to skip, newest first"),
) -> Slice:
    """Dependency: `limit`/`offset` when either is given, else `page`/`per_page`."""
    if limit is None and offset is None:
        return Slice(page=page.page, per_page=page.per_page)
    return Slice.after(offset or 0, limit or page.per_page)


@router.get("/api/v1/audit-log", responses=errors(400))
async def audit_log(
    subject: CompanyAdmin,
    session: Session,
    filters: Annotated[AuditQuery, Query()],
    rows: Annotated[Slice, Depends(audit_slice)],
) -> AuditLogPage:
    """Browse the audit log, newest first. `action` is exact, or a prefix ending in `*` (`company.*`);
    `start_date`/`end_date` are ISO 8601 (start inclusive, end exclusive); `limit`/`offset` or
    `page`/`per_page` choose the entries."""
    start = parse_instant(filters.start_date, "start_date")
    end = parse_instant(filters.end_date, "end_date")
    if start is not None and end is not None:
        window_of(start, end)  # 400 invalid_date_range when the start is after the end
    where = AuditFilter(
        company_id=subject.company_id,
        **filters.model_dump(exclude={"start_date", "end_date", "event_type", "entity_type",
                                      "action", "target_type"}),
        action=filters.action or filters.event_type,
        target_type=filters.target_type or filters.entity_type,
        start=start,
        end=end,
    )
    entries, pagination = await browse(session, where, rows)
    return AuditLogPage(audit_logs=[AuditLogEntry.of(e) for e in entries], pagination=pagination)
