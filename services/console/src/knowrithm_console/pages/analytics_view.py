"""What the Analytics screen shows, built from the API's answers: the period, the trends, the
agents side by side, the lead funnel and the API usage, each chart with its summary and table.

Days are UTC calendar days, as the analytics API counts them. Nothing here calls the API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from babel.dates import format_date
from markupsafe import Markup

from knowrithm_console.charts import Point, bar_chart, daily_chart, has_data
from knowrithm_console.i18n import NONE, Localization
from knowrithm_console.i18n import gettext as _
from knowrithm_console.web import N_

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 366  # the trends API's limit
FUNNEL: dict[str, str] = {
    "new": N_("New"),
    "contacted": N_("Contacted"),
    "qualified": N_("Qualified"),
    "converted": N_("Converted"),
    "lost": N_("Lost"),
}


@dataclass(frozen=True, slots=True)
class Period:
    """The days shown: a preset (the last 7, 30 or 90 days, today included) or a custom range."""

    choice: str  # "7", "30", "90" or "custom"
    first: dt.date
    last: dt.date  # included

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def window(self) -> dict[str, str]:
        """The API's half-open `start_date`/`end_date` covering the days."""
        return {
            "start_date": self.first.isoformat(),
            "end_date": (self.last + dt.timedelta(days=1)).isoformat(),
        }

    def usage_days(self, today: dt.date, *, most: int = 365) -> int:
        """The API-usage routes count back from now: the days that reach the period's first day."""
        return max(1, min(most, (today - self.first).days + 1))


@dataclass(slots=True)
class PeriodForm:
    """The chooser as sent: the period it gives, or the errors by field."""

    choice: str
    start: str
    end: str
    period: Period | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


def period_of(choice: str, start: str, end: str, today: dt.date) -> PeriodForm:
    """Read the chooser: a preset, or a custom range of readable dates, in order, at most a year long."""
    form = PeriodForm(choice, start, end)
    if choice != "custom":
        days = int(choice) if choice.isdigit() and int(choice) in PRESETS else DEFAULT_DAYS
        form.choice = str(days)
        form.period = Period(form.choice, today - dt.timedelta(days=days - 1), today)
        return form
    first, last = _date(start), _date(end)
    if first is None:
        form.errors["start"] = _("Enter the first day as a date.")
    if last is None:
        form.errors["end"] = _("Enter the last day as a date.")
    if first is not None and last is not None:
        if first > last:
            form.errors["start"] = _("The first day is after the last day.")
        elif (last - first).days + 1 > MAX_DAYS:
            form.errors["end"] = _("A period covers at most %(days)s days.") % {"days": MAX_DAYS}
        else:
            form.period = Period("custom", first, last)
    return form


@dataclass(frozen=True, slots=True)
class Figure:
    """One chart with what stands in for it: a summary, a data table (or the empty state)."""

    key: str
    title: str
    chart: Markup | None
    summary: str
    columns: tuple[str, str]
    rows: list[tuple[str, str]]
    empty: str


def _day(l10n: Localization, text: str) -> str:
    return format_date(dt.date.fromisoformat(text), format="d MMM", locale=l10n.locale)


def _long_day(l10n: Localization, text: str) -> str:
    return format_date(dt.date.fromisoformat(text), format="medium", locale=l10n.locale)


def _seconds(l10n: Localization, value: float | None) -> str:
    if value is None:
        return NONE
    shown = round(value, 3 if value < 1 else 2)  # the offline provider answers in milliseconds
    return _("%(seconds)s s") % {"seconds": l10n.number(shown)}


def _trend(
    l10n: Localization,
    days: Sequence[dict[str, Any]],
    *,
    key: str,
    title: str,
    kind: str,
    text: Callable[[Any], str],
    empty: str,
    total: Any,
    top: float | None = None,
) -> Figure:
    points = [Point(_day(l10n, d["date"]), d.get(key), text(d.get(key))) for d in days]
    rows = [(_long_day(l10n, d["date"]), text(d.get(key))) for d in days]
    valued = [d for d in days if d.get(key) is not None]
    if not has_data(points) or not valued:
        return Figure(key, title, None, empty, (_("Day"), title), [], empty)
    peak = max(valued, key=lambda d: float(d[key]))
    if kind == "columns":
        summary = _("%(total)s over %(days)s days; the most on %(day)s: %(value)s.")
    else:
        summary = _("%(total)s on average over %(days)s days; the highest on %(day)s: %(value)s.")
    summary %= {
        "total": text(total),
        "days": l10n.number(len(days)),
        "day": _long_day(l10n, peak["date"]),
        "value": text(peak[key]),
    }
    chart = daily_chart(
        chart_id=f"chart-{key}",
        title=title,
        description=summary,
        points=points,
        kind=kind,
        tick_text=lambda v: l10n.number(v),
        top=top,
    )
    return Figure(key, title, chart, summary, (_("Day"), title), rows, empty)


def trend_figures(l10n: Localization, trends: dict[str, Any]) -> list[Figure]:
    """The five daily trends: conversations, messages, leads, satisfaction and response time."""
    days, totals = trends.get("days") or [], trends.get("totals") or {}

    def count(value: Any) -> str:
        return l10n.number(int(value or 0))

    def rating(value: Any) -> str:
        return NONE if value is None else _("%(rating)s of 5") % {"rating": l10n.number(value)}

    def seconds(value: Any) -> str:
        return _seconds(l10n, value)

    return [
        _trend(
            l10n,
            days,
            key="conversations",
            title=_("Conversations"),
            kind="columns",
            text=count,
            empty=_("No conversations in this period."),
            total=totals.get("conversations"),
        ),
        _trend(
            l10n,
            days,
            key="messages",
            title=_("Messages"),
            kind="columns",
            text=count,
            empty=_("No messages in this period."),
            total=totals.get("messages"),
        ),
        _trend(
            l10n,
            days,
            key="leads",
            title=_("New leads"),
            kind="columns",
            text=count,
            empty=_("No leads registered in this period."),
            total=totals.get("leads"),
        ),
        _trend(
            l10n,
            days,
            key="avg_rating",
            title=_("Satisfaction"),
            kind="line",
            text=rating,
            top=5,
            empty=_("No ratings in this period."),
            total=totals.get("avg_rating"),
        ),
        _trend(
            l10n,
            days,
            key="avg_response_time_seconds",
            title=_("Response time"),
            kind="line",
            text=seconds,
            empty=_("No answers in this period."),
            total=totals.get("avg_response_time_seconds"),
        ),
    ]


def bars(
    *,
    key: str,
    title: str,
    items: Sequence[tuple[str, float | None, str]],
    summary: str,
    empty: str,
    columns: tuple[str, str],
) -> Figure:
    """A category chart (`items`: label, value, text) with its table, or its empty state."""
    points = [Point(label, value, text) for label, value, text in items]
    rows = [(label, text) for label, _value, text in items]
    if not has_data(points):
        return Figure(key, title, None, empty, columns, rows, empty)
    chart = bar_chart(chart_id=f"chart-{key}", title=title, description=summary, points=points)
    return Figure(key, title, chart, summary, columns, rows, empty)


def agents_figure(l10n: Localization, agents: Sequence[dict[str, Any]]) -> Figure:
    """Conversations per agent, busiest first (the agents' table has the other numbers)."""
    items = [
        (
            str(a.get("name") or a["id"]),
            float(a.get("conversations") or 0),
            l10n.number(int(a.get("conversations") or 0)),
        )
        for a in agents
    ]
    summary = _("Conversations per agent, busiest first: %(agents)s.") % {
        "agents": "; ".join(f"{label}: {text}" for label, _value, text in items)
    }
    return bars(
        key="agents",
        title=_("Conversations per agent"),
        items=items,
        summary=summary,
        empty=_("No agent had a conversation in this period."),
        columns=(_("Agent"), _("Conversations")),
    )


def funnel_figure(l10n: Localization, distribution: dict[str, Any]) -> Figure:
    """The lead funnel: new, contacted, qualified, converted, lost."""
    counts = {status: int(distribution.get(status) or 0) for status in FUNNEL}
    summary = (
        "; ".join(f"{_(label)}: {l10n.number(counts[status])}" for status, label in FUNNEL.items()) + "."
    )
    items = [
        (_(label), float(counts[status]), l10n.number(counts[status])) for status, label in FUNNEL.items()
    ]
    return bars(
        key="funnel",
        title=_("Lead funnel"),
        items=items,
        summary=summary,
        empty=_("No leads registered in this period."),
        columns=(_("Status"), _("Leads")),
    )


def endpoints_figure(l10n: Localization, endpoints: Sequence[dict[str, Any]]) -> Figure:
    """The endpoints called most with the company's API keys."""
    items = [
        (
            f"{e.get('method')} {e.get('endpoint')}",
            float(e.get("total_requests") or 0),
            l10n.number(int(e.get("total_requests") or 0)),
        )
        for e in endpoints
    ]
    summary = (
        (
            _("The most called: %(endpoint)s (%(count)s requests).")
            % {"endpoint": items[0][0], "count": items[0][2]}
        )
        if items
        else ""
    )
    return bars(
        key="endpoints",
        title=_("Top endpoints"),
        items=items,
        summary=summary,
        empty=_("No API key made a request in this period."),
        columns=(_("Endpoint"), _("Requests")),
    )


def seconds_text(l10n: Localization, value: float | None) -> str:
    """A duration in seconds as shown in tables."""
    return _seconds(l10n, value)


def milliseconds_text(l10n: Localization, value: float | None) -> str:
    return NONE if value is None else _("%(ms)s ms") % {"ms": l10n.number(round(value))}


def day_text(l10n: Localization, day: dt.date) -> str:
    """A day as a reader would write it (1 Dec 2026)."""
    return format_date(day, format="medium", locale=l10n.locale)


def percent_text(l10n: Localization, value: float | None) -> str:
    return NONE if value is None else _("%(percent)s %%") % {"percent": l10n.number(value)}
