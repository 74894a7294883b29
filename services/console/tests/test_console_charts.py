"""The server-side SVG charts: scales, empty data, escaping, and what an assistive technology gets."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from knowrithm_console.charts import Point, bar_chart, daily_chart, has_data, nice_step, scale_for

SVG = "{http://www.w3.org/2000/svg}"


def _tree(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # well-formed XML, or this raises


@pytest.mark.parametrize(
    ("raw", "integer", "step"),
    [
        (1.75, True, 2.0),
        (0.75, True, 1.0),
        (0.3, False, 0.5),
        (12, False, 20.0),
        (0.0, True, 1.0),
        (5, True, 5.0),
    ],
)
def test_steps_are_one_two_or_five_times_a_power_of_ten(raw, integer, step):
    assert nice_step(raw, integer=integer) == step


def test_scales_hold_the_highest_value_on_round_gridlines():
    assert scale_for([3, 7, None], integer=True).ticks() == [0, 2, 4, 6, 8]
    assert scale_for([1, 3], integer=True).ticks() == [0, 1, 2, 3]
    assert scale_for([2.0, 0.5], integer=False).ticks() == [0, 0.5, 1.0, 1.5, 2.0]
    assert scale_for([4.2], integer=False, top=5).top == 5  # a rating's axis ends at 5
    assert scale_for([], integer=True).ticks() == [0, 1]  # nothing: still a drawable axis


def test_a_chart_of_zeros_or_nothing_has_no_data():
    assert not has_data([])
    assert not has_data([Point("Mon", 0, "0"), Point("Tue", None, "-")])
    assert has_data([Point("Mon", 0, "0"), Point("Tue", 2, "2")])


def test_columns_are_as_tall_as_their_values_and_the_chart_is_named():
    points = [Point("1 Dec", 2, "2"), Point("2 Dec", 0, "0"), Point("3 Dec", 4, "4")]
    svg = _tree(daily_chart(chart_id="c1", title="Conversations", description="6 in 3 days", points=points))
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "c1-title c1-desc"
    assert svg.find(f"{SVG}title").text == "Conversations" and svg.find(f"{SVG}desc").text == "6 in 3 days"
    heights = [float(rect.get("height")) for rect in svg.iter(f"{SVG}rect")]
    assert heights[0] * 2 == pytest.approx(heights[2]) and heights[1] == 0
    assert [t.text for t in svg.iter(f"{SVG}title")][1:] == ["1 Dec: 2", "2 Dec: 0", "3 Dec: 4"]
    assert "style" not in str(daily_chart(chart_id="c1", title="t", description="d", points=points))


def test_a_line_breaks_where_a_day_has_no_value():
    points = [
        Point("a", 1.0, "1"),
        Point("b", 2.0, "2"),
        Point("c", None, "-"),
        Point("d", 1.5, "1.5"),
        Point("e", 0.5, "0.5"),
    ]
    svg = _tree(daily_chart(chart_id="l", title="Rating", description="d", points=points, kind="line", top=5))
    assert len(list(svg.iter(f"{SVG}polyline"))) == 2
    assert len(list(svg.iter(f"{SVG}circle"))) == 4


def test_labels_and_titles_are_escaped():
    evil = '<script>alert("x")</script> & "Bot"'
    markup = str(
        bar_chart(
            chart_id='x" onload="alert(1)', title=evil, description=evil, points=[Point(evil, 3, "3 <b>")]
        )
    )
    assert "<script>" not in markup and "<b>" not in markup and 'onload="alert' not in markup
    svg = _tree(markup)
    assert svg.find(f"{SVG}title").text == evil  # the reader gets the text back, unchanged
    assert any(t.text == "3 <b>" for t in svg.iter(f"{SVG}text"))


def test_bars_are_in_proportion_and_long_labels_are_cut():
    points = [Point("Sales Bot", 4, "4"), Point("A" * 60, 1, "1"), Point("Idle", 0, "0")]
    svg = _tree(bar_chart(chart_id="b", title="Agents", description="d", points=points))
    widths = [float(rect.get("width")) for rect in svg.iter(f"{SVG}rect")]
    assert len(widths) == 2 and widths[0] == pytest.approx(4 * widths[1])  # no bar for a 0
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "chart-label"]
    assert labels[0] == "Sales Bot" and labels[1].endswith("…") and len(labels[1]) == 28


def test_a_long_period_labels_only_some_days():
    points = [Point(f"d{n}", n, str(n)) for n in range(90)]
    svg = _tree(daily_chart(chart_id="p", title="t", description="d", points=points))
    labels = [t for t in svg.iter(f"{SVG}text") if t.get("class") == "chart-label"]
    assert 2 <= len(labels) <= 6
    assert re.fullmatch(r"0 0 640 \d+", svg.get("viewBox"))
