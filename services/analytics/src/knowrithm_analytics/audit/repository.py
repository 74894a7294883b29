"""Queries over the audit log projection."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import AuditEntry
from knowrithm_common.pagination import PageParams, Pagination, paginate


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What the browser narrows the log to; None leaves a field unfiltered."""

    company_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    actor_kind: str | None = None
    action: str | None = None
    category: str | None = None
    outcome: str | None = None
    risk_level: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        equal = {
            AuditEntry.company_id: self.company_id,
            AuditEntry.actor_id: self.actor_id,
            AuditEntry.actor_kind: self.actor_kind,
            AuditEntry.category: self.category,
            AuditEntry.outcome: self.outcome,
            AuditEntry.risk_level: self.risk_level,
            AuditEntry.target_type: self.target_type,
            AuditEntry.target_id: self.target_id,
        }
        conditions = [column == value for column, value in equal.items() if value is not None]
        if self.action is not None:
            conditions.append(action_matches(self.action))
        if self.start is not None:
            conditions.append(AuditEntry.time >= self.start)
        if self.end is not None:
            conditions.append(AuditEntry.time < self.end)
        return conditions


def action_matches(pattern: str) -> ColumnElement[bool]:
    """`company.deleted` matches that action; `company.*` every action starting `company.`."""
    if not pattern.endswith("*"):
        return AuditEntry.action == pattern
    prefix = pattern[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return AuditEntry.action.like(prefix + "%", escape="\\")


# Far past any log, and far below PostgreSQL's bigint OFFSET limit.
MAX_OFFSET = 10**12


class Slice(PageParams):
    """Which entries of the matching ones, newest first: a page, or (SDK paging) `per_page` of
    them after any `start`, not only a page's first entry."""

    start: int | None = None

    @classmethod
    def after(cls, offset: int, limit: int) -> Slice:
        """`limit` entries after `offset`; `page` is the page `offset` falls in."""
        return cls(page=offset // limit + 1, per_page=limit, start=offset)

    @property
    def offset(self) -> int:
        return super().offset if self.start is None else self.start


async def browse(
    session: AsyncSession, where: AuditFilter, rows: Slice
) -> tuple[Sequence[AuditEntry], Pagination]:
    """The entries matching `where` in `rows`, newest first, and the page block."""
    stmt = (
        select(AuditEntry)
        .where(*where.conditions())
        .order_by(AuditEntry.time.desc(), AuditEntry.event_id.desc())
    )
    return await paginate(session, stmt, rows)
