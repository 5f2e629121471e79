"""The digest page's SVG charts, on their own: scales, marks, words and the empty case (SPEC §15 "Charts")."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pv_service.digests.charts import (
    Bar,
    Interval,
    Series,
    bar_chart,
    column_chart,
    count_ticks,
    forest_plot,
    log_domain,
    log_position,
    log_ticks,
    nice_maximum,
)

SVG = "{http://www.w3.org/2000/svg}"


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def forest(rows: list[Interval]) -> ET.Element:
    return parsed(
        forest_plot(chart_id="f", title="ROR", desc="Intervals", rows=rows, axis_label="ROR (log)", empty="Nothing")
    )


def test_log_positions_are_even_per_factor_of_ten() -> None:
    assert log_position(1.0, 0.1, 10.0, 0, 200) == pytest.approx(100)
    assert log_position(0.1, 0.1, 10.0, 0, 200) == pytest.approx(0)
    assert log_position(10.0, 0.1, 10.0, 0, 200) == pytest.approx(200)
    # 1 → 2 spans as much as 5 → 10 (a factor of two each).
    step = log_position(2.0, 0.1, 10.0, 0, 200) - log_position(1.0, 0.1, 10.0, 0, 200)
    assert log_position(10.0, 0.1, 10.0, 0, 200) - log_position(5.0, 0.1, 10.0, 0, 200) == pytest.approx(step)
    # Outside the axis, a value sits at its end.
    assert log_position(1e6, 0.1, 10.0, 0, 200) == 200 and log_position(1e-6, 0.1, 10.0, 0, 200) == 0


@given(st.floats(min_value=0.01, max_value=1000), st.floats(min_value=0.01, max_value=1000))
def test_log_positions_keep_the_order_of_values(one: float, other: float) -> None:
    low, high = 0.01, 1000.0
    if one <= other:
        assert log_position(one, low, high, 10, 610) <= log_position(other, low, high, 10, 610)


def test_ticks_run_one_two_five_and_the_domain_leaves_room_around_every_value() -> None:
    assert log_ticks(0.5, 20) == [0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
    assert log_domain([1.2, 3.0, 7.5]) == (0.5, 10.0)
    assert log_domain([]) == (0.5, 2.0)  # the reference line at 1 alone
    assert log_domain([1e-9, 1e9]) == (0.01, 1000.0)  # bounded
    assert [nice_maximum(v) for v in (0, 1, 3, 6, 14, 51)] == [1, 1, 5, 10, 20, 100]
    assert count_ticks(20) == [0, 4, 8, 12, 16, 20] and count_ticks(1) == [0, 1]


def test_a_forest_plot_draws_each_interval_where_the_log_scale_puts_it() -> None:
    svg = forest([Interval("OIL-T10 – Somnolence", 3.0, 1.5, 6.0, emphasis=True), Interval("Other", 0.8, 0.5, 1.3)])
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "f-title f-desc"
    assert svg.find(f"{SVG}title").text == "ROR" and svg.find(f"{SVG}desc").text == "Intervals"
    ci = [line for line in svg.iter(f"{SVG}line") if line.get("class") == "ci"]
    marks = [rect for rect in svg.iter(f"{SVG}rect") if "estimate" in (rect.get("class") or "")]
    reference = next(line for line in svg.iter(f"{SVG}line") if line.get("class") == "reference")
    x = {name: float(ci[0].get(name)) for name in ("x1", "x2")}
    ref_x = float(reference.get("x1"))
    # log(1.5) and log(6) sit symmetrically around log(3): the mark is in the middle of its bar.
    centre = float(marks[0].get("x")) + 5
    assert centre - x["x1"] == pytest.approx(x["x2"] - centre, abs=0.2)
    # The reference line at 1 is left of the first interval, inside the second.
    assert ref_x < x["x1"] and float(ci[1].get("x1")) < ref_x < float(ci[1].get("x2"))
    # A signal is filled, another pair hollow: told apart by shape class and fill, and in the table.
    assert "signal" in marks[0].get("class") and "pair" in marks[1].get("class")
    assert marks[0].get("fill") != marks[1].get("fill")
    texts = [t.text or "" for t in svg.iter(f"{SVG}text")]
    assert "3.00 [1.50–6.00]" in texts and "OIL-T10 – Somnolence" in texts


def test_an_interval_past_the_axis_ends_in_an_arrow_and_a_missing_one_shows_a_dash() -> None:
    svg = forest([Interval("Wide", 50.0, 2.0, 1e7), Interval("Undefined", None, None, None)])
    arrows = list(svg.iter(f"{SVG}path"))
    assert len(arrows) == 1
    texts = [t.text or "" for t in svg.iter(f"{SVG}text")]
    assert "–" in texts


def test_long_labels_are_shortened_with_the_whole_label_as_a_tooltip_and_escaped() -> None:
    label = "Douleurs neuropathiques réfractaires aux thérapies accessibles <b>"
    markup = str(bar_chart(chart_id="b", title="T & U", desc="D", bars=[Bar(label, 3)], empty="-"))
    assert "<b>" not in markup and "T &amp; U" in markup
    svg = parsed(markup)
    shown = next(t for t in svg.iter(f"{SVG}text") if t.find(f"{SVG}title") is not None)
    assert shown.find(f"{SVG}title").text == label
    assert "".join(shown.itertext()).endswith("…")


def test_bars_keep_the_order_given_and_their_lengths_follow_the_values() -> None:
    bars = [Bar("P1", 0), Bar("P2", 2), Bar("P3", 0), Bar("P4", 1), Bar("P5", 4)]
    svg = parsed(bar_chart(chart_id="p", title="By priority", desc="P1 to P5", bars=bars, empty="None"))
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.text and t.text.startswith("P")]
    assert labels == ["P1", "P2", "P3", "P4", "P5"]
    widths = [float(r.get("width")) for r in svg.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert len(widths) == 3  # no bar for a zero
    assert widths[0] == pytest.approx(widths[2] / 2) and widths[1] == pytest.approx(widths[2] / 4)


def test_a_column_chart_tells_its_series_apart_by_pattern_and_names_them() -> None:
    svg = parsed(
        column_chart(
            chart_id="w",
            title="Weeks",
            desc="All and serious",
            categories=["W1", "W2"],
            series=[Series("All", [3, 5]), Series("Serious", [1, 0], "hatched")],
            empty="None",
        )
    )
    assert svg.find(f".//{SVG}pattern") is not None
    fills = {r.get("fill") for r in svg.iter(f"{SVG}rect") if r.get("class") == "bar"}
    assert "url(#w-hatch)" in fills and len(fills) == 2
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"All", "Serious", "W1", "W2", "5"} <= set(texts)
    tops = [t for t in svg.iter(f"{SVG}text") if t.text == "5" and t.get("font-size") == "11"]
    assert tops  # the count axis reaches 5


@pytest.mark.parametrize(
    "chart",
    [
        lambda: bar_chart(chart_id="e", title="T", desc="D", bars=[], empty="No case this week."),
        lambda: column_chart(chart_id="e", title="T", desc="D", categories=[], series=[], empty="No case this week."),
        lambda: forest_plot(chart_id="e", title="T", desc="D", rows=[], axis_label="A", empty="No case this week."),
    ],
)
def test_an_empty_chart_is_still_an_image_with_its_title_and_says_so(chart: object) -> None:
    svg = parsed(chart())  # type: ignore[operator]
    assert svg.get("role") == "img" and svg.find(f"{SVG}title").text == "T"
    assert [t.text for t in svg.iter(f"{SVG}text")] == ["No case this week."]
    assert not list(svg.iter(f"{SVG}rect"))


def test_numbers_in_a_forest_plot_are_written_by_the_given_formatter() -> None:
    markup = str(
        forest_plot(
            chart_id="n",
            title="T",
            desc="D",
            rows=[Interval("x", 2.5, 1.25, 5.0)],
            axis_label="A",
            empty="-",
            number=lambda value: f"{value:.1f}".replace(".", ","),
        )
    )
    assert "2,5 [1,2–5,0]" in markup
    assert not re.search(r"\bnan\b|\binf\b", markup)
