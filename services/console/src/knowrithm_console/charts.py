"""Charts drawn on the server as inline SVG: no script, no external host, no inline style.

Each chart is an `<svg role="img">` named by its `<title>` and described by its `<desc>` (the
page puts a text summary and a data table beside it as well, for those who cannot see it).
Colours and fonts come from classes in console.css (`chart-*`); geometry from attributes. Every
text that reaches the markup is escaped. A chart over nothing (no value, or only zeros) is not
drawn: `has_data` tells the page to show its empty state instead.

Kinds: `columns` (a daily count: one column a day), `line` (a daily average: a line broken
where a day has no value, a dot on each day that has one) and `bars` (categories, horizontal,
longest label first on the left).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
DAILY_HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 40  # the daily charts' margins around the plot
BAR_ROW = 32  # a horizontal bar's row height
BAR_LABEL = 200  # room for the categories' labels, left of the bars
BAR_VALUE = 80  # room for the values, right of the bars
LABEL_CHARS = 28  # a category label longer than this is cut (the full one is in the data table)
X_LABELS = 6  # at most this many day labels under a daily chart


@dataclass(frozen=True, slots=True)
class Point:
    """One value of a chart: its label (a day, a category), the value (None: none) and its text."""

    label: str
    value: float | None
    text: str


@dataclass(frozen=True, slots=True)
class Scale:
    """A value axis from 0 to `top` with a gridline every `step`."""

    top: float
    step: float

    def ticks(self) -> list[float]:
        count = round(self.top / self.step)
        return [round(self.step * n, 10) for n in range(count + 1)]


def has_data(points: Sequence[Point]) -> bool:
    """Whether a chart would show anything: some value other than 0."""
    return any(point.value for point in points)


def nice_step(raw: float, *, integer: bool) -> float:
    """The smallest of 1, 2, 5 times 10^n at least `raw` (at least 1 for whole numbers)."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    return max(step, 1.0) if integer else step


def scale_for(
    values: Sequence[float | None], *, integer: bool, top: float | None = None, lines: int = 4
) -> Scale:
    """An axis holding every value: a fixed `top` (e.g. a rating's 5), else a round one."""
    highest = max((v for v in values if v is not None), default=0.0)
    if top is not None and highest <= top:
        return Scale(top, nice_step(top / 5, integer=integer))  # a fixed axis: five steps (0-5 for a rating)
    step = nice_step(max(highest, 0.0) / lines, integer=integer)
    return Scale(max(step, step * math.ceil(highest / step - 1e-9)), step)


def _open(chart_id: str, height: float, title: str, description: str, kind: str) -> list[str]:
    ident = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-kind-{kind}"'
        f' viewBox="0 0 {WIDTH} {height:g}" role="img" aria-labelledby="{ident}-title {ident}-desc"'
        f' focusable="false" id="{ident}">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _grid(scale: Scale, tick_text: Callable[[float], str], plot_height: float) -> list[str]:
    parts = []
    for tick in scale.ticks():
        y = TOP + plot_height * (1 - tick / scale.top)
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y)}" y2="{_num(y)}"/>'
        )
        parts.append(
            f'<text class="chart-tick" x="{LEFT - 6}" y="{_num(y + 4)}" text-anchor="end">'
            f"{escape(tick_text(tick))}</text>"
        )
    return parts


def _day_labels(points: Sequence[Point], slot: float) -> list[str]:
    every = max(1, math.ceil(len(points) / X_LABELS))
    parts = []
    for index, point in enumerate(points):
        if index % every == 0:
            x = LEFT + slot * (index + 0.5)
            parts.append(
                f'<text class="chart-label" x="{_num(x)}" y="{DAILY_HEIGHT - BOTTOM + 18}"'
                f' text-anchor="middle">{escape(point.label)}</text>'
            )
    return parts


def daily_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    points: Sequence[Point],
    kind: str = "columns",
    tick_text: Callable[[float], str] = _num,
    top: float | None = None,
) -> Markup:
    """One value a day as columns (counts) or a line with dots (averages; gaps where None)."""
    integer = kind == "columns"
    scale = scale_for([p.value for p in points], integer=integer, top=top)
    plot_height = DAILY_HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    parts = _open(chart_id, DAILY_HEIGHT, title, description, kind)
    parts += _grid(scale, tick_text, plot_height)

    def y_of(value: float) -> float:
        return TOP + plot_height * (1 - max(value, 0.0) / scale.top)

    segments: list[list[str]] = [[]]
    for index, point in enumerate(points):
        x = LEFT + slot * (index + 0.5)
        label = escape(f"{point.label}: {point.text}")
        if point.value is None:
            segments.append([])
            continue
        y = y_of(point.value)
        if kind == "columns":
            width = max(slot * 0.7, 1.0)
            parts.append(
                f'<rect class="chart-bar" x="{_num(x - width / 2)}" y="{_num(y)}" width="{_num(width)}"'
                f' height="{_num(TOP + plot_height - y)}"><title>{label}</title></rect>'
            )
        else:
            segments[-1].append(f"{_num(x)},{_num(y)}")
            parts.append(
                f'<circle class="chart-dot" cx="{_num(x)}" cy="{_num(y)}" r="3.5">'
                f"<title>{label}</title></circle>"
            )
    for segment in segments:
        if len(segment) > 1:
            parts.append(f'<polyline class="chart-line" points="{" ".join(segment)}"/>')
    baseline = TOP + plot_height
    parts.append(
        f'<line class="chart-axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{baseline}" y2="{baseline}"/>'
    )
    parts += _day_labels(points, slot)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text and attribute in it went through escape)


def _cut(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def bar_chart(*, chart_id: str, title: str, description: str, points: Sequence[Point]) -> Markup:
    """Categories as horizontal bars, each with its label on the left and its value on the right."""
    scale = scale_for([p.value for p in points], integer=False)
    height = BAR_ROW * max(len(points), 1) + 8
    room = WIDTH - BAR_LABEL - BAR_VALUE
    parts = _open(chart_id, height, title, description, "bars")
    for index, point in enumerate(points):
        y = 4 + BAR_ROW * index
        length = room * max(point.value or 0.0, 0.0) / scale.top
        parts.append(
            f'<text class="chart-label" x="{BAR_LABEL - 8}" y="{y + 20}" text-anchor="end">'
            f"{escape(_cut(point.label))}</text>"
        )
        if length > 0:
            parts.append(
                f'<rect class="chart-bar" x="{BAR_LABEL}" y="{y + 6}" width="{_num(length)}"'
                f' height="{BAR_ROW - 12}"><title>{escape(point.label + ": " + point.text)}</title></rect>'
            )
        parts.append(
            f'<text class="chart-value" x="{_num(BAR_LABEL + length + 6)}" y="{y + 20}">'
            f"{escape(point.text)}</text>"
        )
    parts.append(f'<line class="chart-axis" x1="{BAR_LABEL}" x2="{BAR_LABEL}" y1="0" y2="{height}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text and attribute in it went through escape)
