"""The time window an analytics request covers (which company: `knowrithm_common.tenancy`).

`start_date`/`end_date` (ISO 8601; default the last 30 days up to now) for the `analytic/*`
operations, `days` (1-365, default 30) for the API-usage operations. A window is half-open:
`start <= time < end`. An unreadable date or a start after the end is 400 `invalid_date_range`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from knowrithm_common.errors import BadRequest

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


def last_days(now: dt.datetime, days: int) -> Window:
    """The `days` days up to `now`."""
    return Window(now - dt.timedelta(days=days), now)


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
    return last_days(dt.datetime.now(dt.UTC), days)


DateWindow = Annotated[Window, Depends(date_window)]
DaysWindow = Annotated[Window, Depends(days_window)]
