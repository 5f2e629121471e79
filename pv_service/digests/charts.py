"""The digest page's charts as SVG drawn on the server (SPEC §15 "Charts"): readable printed and without
JavaScript.

Pure functions from numbers and the words to show to SVG markup, no I/O. Each chart is an ``<svg
role="img">`` named by its ``<title>`` and described by its ``<desc>``; the page puts the same numbers in a
table beside it. Meaning never rests on colour alone: series differ by pattern too, and a legend names them.
Every text given is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup, escape

INK = "#1b1b1b"
MUTED = "#4a4a4a"
GRID = "#c8c8c8"
ACCENT = "#004f9f"
SERIOUS = "#a4000f"
FONT = 'font-family="system-ui, sans-serif"'
CHAR_WIDTH = 7.6  # px per character at 13 px, a generous average for label columns
LABEL_CHARS = 44  # longer labels are shortened with "…"; the full label is the tooltip and in the table
WIDTH = 720
# A 1-2-5 series of ticks for the ROR's log axis, and the widest range the axis spans.
TICK_STEPS = (1.0, 2.0, 5.0)
LOG_FLOOR, LOG_CEILING = 0.01, 1000.0
MARGIN = 1.2
AXIS_TICKS = 9  # more 1-2-5 ticks than this would crowd the axis: the powers of ten are labelled alone


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a horizontal bar chart."""

    label: str
    value: int


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a column chart: a value per category; ``style`` tells it apart without colour."""

    name: str
    values: Sequence[int]
    style: Literal["solid", "hatched"] = "solid"


@dataclass(frozen=True, slots=True)
class Interval:
    """One row of a forest plot: an estimate and its confidence interval (None where undefined);
    ``emphasis`` draws it filled (a signal), otherwise hollow."""

    label: str
    estimate: float | None
    lower: float | None
    upper: float | None
    emphasis: bool = False


def plain_number(value: float) -> str:
    return f"{value:.2f}"


# --- scales ---------------------------------------------------------------------------------------------


def log_position(value: float, low: float, high: float, start: float, end: float) -> float:
    """Where ``value`` falls between ``start`` and ``end`` on a log scale from ``low`` to ``high``
    (clamped to the ends)."""
    value = min(max(value, low), high)
    share = (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    return start + share * (end - start)


def log_ticks(low: float, high: float, *, at_most: int | None = None) -> list[float]:
    """The 1-2-5 ticks from ``low`` to ``high`` inclusive; past ``at_most`` of them, the powers of ten alone."""
    ticks = []
    decade = 10.0 ** math.floor(math.log10(low))
    while decade <= high:
        for step in TICK_STEPS:
            tick = round(step * decade, 10)
            if low <= tick <= high:
                ticks.append(tick)
        decade *= 10
    if at_most is not None and len(ticks) > at_most:
        ticks = [tick for tick in ticks if math.log10(tick).is_integer()]
    return ticks


def log_domain(values: Sequence[float], reference: float = 1.0) -> tuple[float, float]:
    """The 1-2-5 ticks around ``values`` and ``reference`` with a margin, within [LOG_FLOOR, LOG_CEILING]."""
    finite = [v for v in values if v > 0 and math.isfinite(v)] + [reference]
    smallest = max(min(finite), LOG_FLOOR)
    largest = min(max(finite), LOG_CEILING)
    ticks = log_ticks(LOG_FLOOR, LOG_CEILING)
    # A little room on either side, so that no mark sits on the frame.
    low = max((t for t in ticks if t <= smallest / MARGIN), default=LOG_FLOOR)
    high = min((t for t in ticks if t >= largest * MARGIN), default=LOG_CEILING)
    return low, high


def nice_maximum(value: int) -> int:
    """The axis top for counts up to ``value``: 1, 2, 5, 10, 20, 50… (at least 1)."""
    top = 1
    while top < value:
        digits = 10 ** (len(str(top)) - 1)
        top = {1: 2, 2: 5}.get(top // digits, 10) * digits
    return top


def count_ticks(top: int) -> list[int]:
    """Up to six evenly spaced whole ticks from 0 to ``top``."""
    step = max(1, math.ceil(top / 5))
    return list(range(0, top + 1, step)) if top % step == 0 else [*range(0, top + 1, step), top]


# --- pieces ---------------------------------------------------------------------------------------------


def _shortened(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1].rstrip() + "…"


def _label_width(labels: Sequence[str]) -> float:
    return min(max((len(_shortened(label)) for label in labels), default=0), LABEL_CHARS) * CHAR_WIDTH + 12


def _open(chart_id: str, title: str, desc: str, height: float, width: float = WIDTH) -> str:
    ident = escape(chart_id)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{ident}" class="chart" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'aria-labelledby="{ident}-title {ident}-desc" {FONT} font-size="13">'
        f'<title id="{ident}-title">{escape(title)}</title><desc id="{ident}-desc">{escape(desc)}</desc>'
    )


def _text(x: float, y: float, content: str, *, anchor: str = "start", fill: str = INK, size: int | None = None) -> str:
    sized = f' font-size="{size}"' if size else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}"{sized}>{escape(content)}</text>'


def _label(x: float, y: float, label: str) -> str:
    """A row label, shortened when long, with the whole label as its tooltip."""
    shown = _shortened(label)
    tooltip = f"<title>{escape(label)}</title>" if shown != label else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="end" fill="{INK}">{tooltip}{escape(shown)}</text>'


def _empty(chart_id: str, title: str, desc: str, empty: str) -> Markup:
    return Markup(_open(chart_id, title, desc, 40) + _text(8, 25, empty, fill=MUTED) + "</svg>")


def _hatch(chart_id: str) -> str:
    return (
        f'<defs><pattern id="{escape(chart_id)}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        f'<rect width="3" height="6" fill="{SERIOUS}"/></pattern></defs>'
    )


def _fill(chart_id: str, style: str) -> str:
    if style == "hatched":
        return f'fill="url(#{escape(chart_id)}-hatch)" stroke="{SERIOUS}"'
    return f'fill="{ACCENT}" stroke="{ACCENT}"'


# --- the charts -----------------------------------------------------------------------------------------


def bar_chart(*, chart_id: str, title: str, desc: str, bars: Sequence[Bar], empty: str) -> Markup:
    """Horizontal bars in the order given, each labelled and with its value at its end."""
    if not bars:
        return _empty(chart_id, title, desc, empty)
    row, top_pad = 24.0, 8.0
    left = _label_width([b.label for b in bars])
    right = WIDTH - 48
    top = max((b.value for b in bars), default=0) or 1
    height = top_pad * 2 + row * len(bars)
    parts = [_open(chart_id, title, desc, height)]
    parts.append(
        f'<line x1="{left:.1f}" y1="{top_pad:.1f}" x2="{left:.1f}" y2="{height - top_pad:.1f}" stroke="{MUTED}"/>'
    )
    for index, bar in enumerate(bars):
        y = top_pad + index * row
        length = (right - left) * bar.value / top
        parts.append(_label(left - 6, y + row / 2 + 4, bar.label))
        if bar.value:
            parts.append(
                f'<rect class="bar" x="{left:.1f}" y="{y + 4:.1f}" width="{length:.1f}" height="{row - 8:.1f}" '
                f"{_fill(chart_id, 'solid')}/>"
            )
        parts.append(_text(left + length + 6, y + row / 2 + 4, str(bar.value)))
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(
    *, chart_id: str, title: str, desc: str, categories: Sequence[str], series: Sequence[Series], empty: str
) -> Markup:
    """Columns per category, the series side by side, with a count axis and a legend naming each series."""
    if not categories or not series:
        return _empty(chart_id, title, desc, empty)
    left, right, top_pad, legend, bottom = 40.0, WIDTH - 10.0, 34.0, 18.0, 28.0
    plot_height = 200.0
    height = top_pad + plot_height + bottom
    base = top_pad + plot_height
    top = nice_maximum(max((v for s in series for v in s.values), default=0))
    parts = [_open(chart_id, title, desc, height), _hatch(chart_id)]
    legend_x = left
    for item in series:
        parts.append(
            f'<rect x="{legend_x:.1f}" y="{legend - 10:.1f}" width="14" height="12" {_fill(chart_id, item.style)}/>'
        )
        parts.append(_text(legend_x + 20, legend, item.name))
        legend_x += 20 + CHAR_WIDTH * len(item.name) + 24
    for tick in count_ticks(top):
        y = base - plot_height * tick / top
        parts.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(left - 6, y + 4, str(tick), anchor="end", fill=MUTED, size=11))
    slot = (right - left) / len(categories)
    width = min(18.0, (slot - 8) / len(series))
    for index, category in enumerate(categories):
        centre = left + slot * (index + 0.5)
        start = centre - width * len(series) / 2
        for position, item in enumerate(series):
            value = item.values[index] if index < len(item.values) else 0
            bar_height = plot_height * value / top
            x = start + position * width
            if value:
                parts.append(
                    f'<rect class="bar" x="{x:.1f}" y="{base - bar_height:.1f}" width="{width - 1:.1f}" '
                    f'height="{bar_height:.1f}" {_fill(chart_id, item.style)}/>'
                )
            parts.append(_text(x + (width - 1) / 2, base - bar_height - 3, str(value), anchor="middle", size=10))
        parts.append(_text(centre, base + 18, category, anchor="middle", fill=MUTED, size=11))
    parts.append(f'<line x1="{left:.1f}" y1="{base:.1f}" x2="{right:.1f}" y2="{base:.1f}" stroke="{MUTED}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def forest_plot(
    *,
    chart_id: str,
    title: str,
    desc: str,
    rows: Sequence[Interval],
    axis_label: str,
    empty: str,
    reference: float = 1.0,
    number: Callable[[float], str] = plain_number,
) -> Markup:
    """Estimates with their confidence intervals on a log scale, one row each, a dashed line at
    ``reference``; an interval reaching past the axis ends in an arrow; a row without an estimate shows "–"."""
    if not rows:
        return _empty(chart_id, title, desc, empty)
    row, top_pad, bottom = 22.0, 10.0, 44.0
    left = _label_width([r.label for r in rows])
    figures = 150.0
    right = WIDTH - figures
    values = [v for r in rows for v in (r.estimate, r.lower, r.upper) if v is not None]
    low, high = log_domain(values, reference)
    height = top_pad + row * len(rows) + bottom
    base = top_pad + row * len(rows)

    def x(value: float) -> float:
        return log_position(value, low, high, left, right)

    parts = [_open(chart_id, title, desc, height)]
    for tick in log_ticks(low, high, at_most=AXIS_TICKS):
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{top_pad:.1f}" x2="{x(tick):.1f}" y2="{base:.1f}" stroke="{GRID}"/>'
        )
        parts.append(_text(x(tick), base + 16, f"{tick:g}", anchor="middle", fill=MUTED, size=11))
    parts.append(
        f'<line class="reference" x1="{x(reference):.1f}" y1="{top_pad - 4:.1f}" x2="{x(reference):.1f}" '
        f'y2="{base:.1f}" stroke="{INK}" stroke-dasharray="4 3"/>'
    )
    parts.append(f'<line x1="{left:.1f}" y1="{base:.1f}" x2="{right:.1f}" y2="{base:.1f}" stroke="{MUTED}"/>')
    parts.append(_text((left + right) / 2, base + 34, axis_label, anchor="middle"))
    for index, item in enumerate(rows):
        y = top_pad + index * row + row / 2
        parts.append(_label(left - 6, y + 4, item.label))
        parts.append(_interval(item, y, x, low, high))
        parts.append(_text(right + 10, y + 4, _figures(item, number), size=12))
    parts.append("</svg>")
    return Markup("".join(parts))


def _interval(item: Interval, y: float, x: Callable[[float], float], low: float, high: float) -> str:
    parts = []
    if item.lower is not None and item.upper is not None:
        x1, x2 = x(item.lower), x(item.upper)
        parts.append(
            f'<line class="ci" x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" stroke="{INK}" stroke-width="2"/>'
        )
        for end, beyond, direction in ((x1, item.lower < low, -1), (x2, item.upper > high, 1)):
            if beyond:  # the interval goes on past the axis: an arrowhead instead of a cap
                tip = end + 6 * direction
                parts.append(
                    f'<path d="M{end:.1f},{y - 4:.1f} L{tip:.1f},{y:.1f} L{end:.1f},{y + 4:.1f}" fill="{INK}"/>'
                )
            else:
                parts.append(f'<line x1="{end:.1f}" y1="{y - 5:.1f}" x2="{end:.1f}" y2="{y + 5:.1f}" stroke="{INK}"/>')
    if item.estimate is not None:
        centre = x(item.estimate)
        fill = ACCENT if item.emphasis else "#fff"
        shape = "signal" if item.emphasis else "pair"
        parts.append(
            f'<rect class="estimate {shape}" x="{centre - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" '
            f'fill="{fill}" stroke="{ACCENT}" stroke-width="2"/>'
        )
    return "".join(parts)


def _figures(item: Interval, number: Callable[[float], str]) -> str:
    if item.estimate is None:
        return "–"
    if item.lower is None or item.upper is None:
        return number(item.estimate)
    return f"{number(item.estimate)} [{number(item.lower)}–{number(item.upper)}]"
