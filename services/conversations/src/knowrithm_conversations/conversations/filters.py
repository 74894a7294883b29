"""The filters of the conversation lists, the export and the knowledge gaps, read from the query.

- `agent_id`: one agent's conversations.
- `from` / `to`: ISO-8601 dates or datetimes on the conversation's last activity (its creation
  when it has none). A date means the whole day: `from=2026-01-01` starts at its midnight and
  `to=2026-01-31` ends at the next one (UTC); a datetime without an offset is UTC.
- `rating`: `positive` (a thumbs up or a rating of 4 or 5 on the conversation or one of its
  answers), `negative` (a thumbs down or a rating of 1 or 2), `unrated` (no feedback at all).
- `lead`: `with` (a lead's conversations) or `without`; `lead_id`: one lead's.

A value that is not one of these answers 422 in the shared error shape, naming the parameter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Depends, Query

from knowrithm_common.errors import ValidationFailed


class Rating(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNRATED = "unrated"


class LeadFilter(StrEnum):
    WITH = "with"
    WITHOUT = "without"


def _instant(name: str, value: str | None, *, end: bool) -> dt.datetime | None:
    """The instant a `from`/`to` value names (a date: its day's start, or the next day's for `to`)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            return start + dt.timedelta(days=1) if end else start
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(
            f"`{name}` must be an ISO-8601 date (2026-01-31) or datetime (2026-01-31T09:00:00Z)",
            detail=[{"loc": ["query", name], "msg": "not an ISO-8601 date or datetime",
                     "type": "value_error"}],
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """A time range: from `start` (inclusive) to `end` (exclusive); either open."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None

    @classmethod
    def of(cls, since: str | None, until: str | None) -> Period:
        period = cls(_instant("from", since, end=False), _instant("to", until, end=True))
        if period.start and period.end and period.start >= period.end:
            raise ValidationFailed(
                "`from` must be before `to`",
                detail=[{"loc": ["query", "to"], "msg": "before `from`", "type": "value_error"}],
            )
        return period


@dataclass(frozen=True, slots=True)
class ConversationFilters:
    agent_id: uuid.UUID | None = None
    period: Period = Period()
    rating: Rating | None = None
    lead: LeadFilter | None = None
    lead_id: uuid.UUID | None = None


FROM = Query(None, alias="from", description="ISO-8601 date or datetime: from this instant (inclusive)")
TO = Query(None, alias="to", description="ISO-8601 date (that whole day) or datetime: until this instant")


def period_query(since: str | None = FROM, until: str | None = TO) -> Period:
    """The `from`/`to` query parameters as a period (422 naming the bad one)."""
    return Period.of(since, until)


def agent_conversation_filters(
    since: str | None = FROM, until: str | None = TO,
    rating: Rating | None = Query(None, description="positive | negative | unrated"),
    lead: LeadFilter | None = Query(None, description="with | without: conversations of a lead or not"),
    lead_id: uuid.UUID | None = Query(None, description="Only this lead's conversations"),
) -> ConversationFilters:
    """The filters of one agent's list (its agent is in the path; 422 naming a bad parameter)."""
    return ConversationFilters(None, Period.of(since, until), rating, lead, lead_id)


def conversation_filters(
    agent_id: uuid.UUID | None = Query(None, description="Only this agent's conversations"),
    common: ConversationFilters = Depends(agent_conversation_filters),
) -> ConversationFilters:
    """The list filters from the query (422 naming the parameter for a bad value)."""
    return dataclasses.replace(common, agent_id=agent_id)
