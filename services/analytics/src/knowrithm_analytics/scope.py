"""What an analytics request covers: which company (or every company) and which time window.

- Company: a company's members see their own company. A super admin sees every company, or
  one with `?company_id=`; another company's id, in a path or in `?company_id=`, answers a
  member 404 (never 403, and never silently the member's own numbers instead).
- Time: `start_date`/`end_date` (ISO 8601; default the last 30 days up to now) for the
  `analytic/*` operations, `days` (1-365, default 30) for the API-usage operations. A window
  is half-open: `start <= time < end`. An unreadable date or a start after the end is 400
  `invalid_date_range`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from knowrithm_common.errors import BadRequest
from knowrithm_common.identity import Principal, current_principal
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import CompanyNotFound, scope_of

DEFAULT_DAYS = 30


class InvalidDateRange(BadRequest):
    code, message = "invalid_date_range", "The date range is not valid"


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window [start, end)."""

    start: dt.datetime
    end: dt.datetime

    @property
    def days(self) -> int:
        return max(1, round((self.end - self.start).total_seconds() / 86400))

    def as_dict(self) -> dict[str, str]:
        return {"start_date": self.start.isoformat(), "end_date": self.end.isoformat()}


def parse_instant(value: str | None, name: str) -> dt.datetime | None:
    """An ISO 8601 date or date-time (UTC when no offset is given), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace(" ", "+")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidDateRange(f"{name} is not an ISO 8601 date: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def window_of(
    start: dt.datetime | None, end: dt.datetime | None, *, default_days: int = DEFAULT_DAYS
) -> Window:
    """The window from optional bounds: the end defaults to now, the start to `default_days` before it."""
    end = end or dt.datetime.now(dt.UTC)
    try:
        start = start or end - dt.timedelta(days=default_days)
    except OverflowError as exc:  # an end in the first days of year 1
        raise InvalidDateRange("end_date is too early") from exc
    if start > end:
        raise InvalidDateRange("start_date is after end_date")
    return Window(start, end)


def date_window(
    start_date: str | None = Query(None, description="ISO 8601; default 30 days before end_date"),
    end_date: str | None = Query(None, description="ISO 8601; default now"),
) -> Window:
    """Dependency: the `start_date`/`end_date` window of the `analytic/*` operations."""
    return window_of(parse_instant(start_date, "start_date"), parse_instant(end_date, "end_date"))


def days_window(days: int = Query(DEFAULT_DAYS, ge=1, le=365, description="days to look back")) -> Window:
    """Dependency: the last `days` days, for the API-usage operations."""
    end = dt.datetime.now(dt.UTC)
    return Window(end - dt.timedelta(days=days), end)


@dataclass(frozen=True, slots=True)
class Scope:
    """The caller and the company its numbers cover (None: every company, super admins only)."""

    principal: Principal
    company_id: uuid.UUID | None


def company_scope(
    principal: Principal = Depends(current_principal),
    company_id: uuid.UUID | None = Query(None, description="super admins: one company (default all)"),
) -> Scope:
    """Dependency: the caller's company; a super admin's choice of company, or every company.

    Role and scope checks are the routes' own (`require_roles`, `require_scopes`); a caller
    without a company that is not a super admin gets 403.
    """
    if principal.is_super_admin:
        return Scope(principal, company_id)
    own = scope_of(principal)
    if company_id is not None and company_id != own:
        raise CompanyNotFound()
    return Scope(principal, own)


CompanyScope = Annotated[Scope, Depends(company_scope)]
# For the `responses=` of routers and routes that take CompanyScope.
COMPANY_NOT_FOUND = errors((404, "`company_id` names no company the caller may read"))
DateWindow = Annotated[Window, Depends(date_window)]
DaysWindow = Annotated[Window, Depends(days_window)]
