"""The registry around a reaction's onset as a small SVG timeline (SPEC §15: the case page, charts drawn on
the server): titration steps, prescriptions and dispensations over a window of days, the onset marked.

A pure function from records to markup, no I/O: the words, days, doses and product names come in through
``TimelineWords``, so the page draws it in its reader's language. The chart has ``role="img"``, a ``<title>``
and a ``<desc>`` that says what it shows; the case page puts the same records in a table beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import TypeVar

from pv_service.registry.schemas import DispensationView, PrescriptionView, TitrationStepView
from pv_service.rules.registry import Period

R = TypeVar("R")
WIDTH = 760
# The days run from PLOT_LEFT to PLOT_RIGHT; lane names sit on the left, the onset's label may overhang right.
PLOT_LEFT = 150.0
PLOT_RIGHT = 690.0
TOP = 34.0
TITRATION_HEIGHT = 46.0
ROW_HEIGHT = 22.0
LANE_GAP = 12.0
AXIS_HEIGHT = 34.0
TICK_DAYS = 15
# About how wide a character of the 11 px labels is, to tell whether a label fits in its bar.
CHAR_WIDTH = 6.3


def _same(text: str) -> str:
    return text


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True, slots=True)
class TimelineWords:
    """How the chart speaks: ``gettext`` takes the English text (a message id), ``day``, ``number`` and
    ``product`` write a date, a dose and a product code for the reader; ``short_day`` a date on the axis."""

    gettext: Callable[[str], str] = _same
    day: Callable[[date], str] = date.isoformat
    short_day: Callable[[date], str] = date.isoformat
    number: Callable[[float], str] = _number
    product: Callable[[str], str] = _same

    def say(self, template: str, **values: object) -> str:
        return self.gettext(template).format(**values)


@dataclass(frozen=True, slots=True)
class _Scale:
    """Days of [since, until] across the plot, each day a slot of equal width."""

    since: date
    until: date

    @property
    def day_width(self) -> float:
        return (PLOT_RIGHT - PLOT_LEFT) / ((self.until - self.since).days + 1)

    def start(self, day: date) -> float:
        return PLOT_LEFT + (day - self.since).days * self.day_width

    def end(self, day: date) -> float:
        return self.start(day) + self.day_width

    def middle(self, day: date) -> float:
        return self.start(day) + self.day_width / 2

    def clip(self, first: date, last: date) -> tuple[date, date] | None:
        """The part of [first, last] inside the window, or None when they do not meet."""
        if last < self.since or first > self.until:
            return None
        return max(first, self.since), min(last, self.until)


@dataclass(frozen=True, slots=True)
class _Span:
    first: date
    last: date
    label: str
    title: str
    css: str
    # Said instead of ``label`` where that does not fit in the bar.
    short: str = ""


def _f(value: float) -> str:
    return f"{value:.1f}"


def _text(x: float, y: float, content: str, *, css: str = "", anchor: str = "start") -> str:
    return (
        f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}"{f" class={_q(css)}" if css else ""}>'
        f"{escape(content)}</text>"
    )


def _q(value: str) -> str:
    return f'"{escape(value, quote=True)}"'


def _bar(scale: _Scale, span: _Span, y: float, height: float) -> str:
    x0, x1 = scale.start(span.first), scale.end(span.last)
    parts = [
        f"<g class={_q(span.css)}><title>{escape(span.title)}</title>",
        f'<rect x="{_f(x0)}" y="{_f(y)}" width="{_f(x1 - x0)}" height="{_f(height)}" rx="2"/>',
    ]
    label = next((text for text in (span.label, span.short) if text and len(text) * CHAR_WIDTH + 6 <= x1 - x0), "")
    if label:
        parts.append(_text(x0 + 3, y + min(height, ROW_HEIGHT) - 7, label))
    parts.append("</g>")
    return "".join(parts)


def _rows(spans: Sequence[_Span]) -> list[list[_Span]]:
    """Spans stacked in as few rows as keep overlapping ones apart (first fit, by start)."""
    rows: list[list[_Span]] = []
    for span in sorted(spans, key=lambda s: (s.first, s.last)):
        row = next((r for r in rows if r[-1].last < span.first), None)
        if row is None:
            rows.append([span])
        else:
            row.append(span)
    return rows


def _step_spans(
    steps: Sequence[TitrationStepView], scale: _Scale, words: TimelineWords
) -> list[tuple[_Span, TitrationStepView]]:
    """Each step runs from its date to the day before the next one (the last one, to the window's end)."""
    ordered = sorted(steps, key=lambda s: s.date)
    spans = []
    for index, step in enumerate(ordered):
        last = ordered[index + 1].date - timedelta(days=1) if index + 1 < len(ordered) else scale.until
        clipped = scale.clip(step.date, last)
        if clipped is None:
            continue
        thc, cbd = words.number(step.daily_thc_mg), words.number(step.daily_cbd_mg)
        span = _Span(
            *clipped,
            label=words.say("THC {thc} · CBD {cbd}", thc=thc, cbd=cbd),
            title=words.say(
                "Titration step of {day}: THC {thc} mg/day, CBD {cbd} mg/day",
                day=words.day(step.date),
                thc=thc,
                cbd=cbd,
            ),
            css="step",
        )
        spans.append((span, step))
    return spans


def _period_spans(
    records: Iterable[R],
    period_of: Callable[[R], Period],
    span_of: Callable[[R, Period, date, date], _Span],
    scale: _Scale,
) -> list[_Span]:
    """A span for each record whose period meets the window, clipped to it."""
    spans = []
    for record in records:
        period = period_of(record)
        clipped = scale.clip(period.start, period.last)
        if clipped is not None:
            spans.append(span_of(record, period, *clipped))
    return spans


def _prescription_span(words: TimelineWords) -> Callable[[PrescriptionView, Period, date, date], _Span]:
    def span(prescription: PrescriptionView, period: Period, first: date, last: date) -> _Span:
        product = words.product(prescription.product)
        kind = words.gettext("secure") if prescription.secure else words.gettext("simple")
        title = words.say(
            "Prescription {id} from {first} to {last}: {product}, {kind}",
            id=prescription.id,
            first=words.day(period.start),
            last=words.day(period.last),
            product=product,
            kind=kind,
        )
        css = "prescription secure" if prescription.secure else "prescription"
        return _Span(first, last, label=f"{product} ({kind})", title=title, css=css, short=prescription.product)

    return span


def _dispensation_span(words: TimelineWords) -> Callable[[DispensationView, Period, date, date], _Span]:
    def span(dispensation: DispensationView, period: Period, first: date, last: date) -> _Span:
        title = words.say(
            "Dispensation {id} of {day}: {quantity} for {days} days",
            id=dispensation.id,
            day=words.day(period.start),
            quantity=words.number(dispensation.quantity),
            days=dispensation.days_supply,
        )
        label = words.say("{days} d", days=dispensation.days_supply)
        return _Span(first, last, label=label, title=title, css="dispensation")

    return span


def _titration_lane(steps: Sequence[tuple[_Span, TitrationStepView]], scale: _Scale, y: float) -> list[str]:
    """Bar heights follow the larger cannabinoid of the window, so an increase shows as a step up."""
    thc_top = max((step.daily_thc_mg for _, step in steps), default=0.0)
    cbd_top = max((step.daily_cbd_mg for _, step in steps), default=0.0)
    top = max(thc_top, cbd_top) or 1.0
    parts = []
    for span, step in steps:
        dose = step.daily_thc_mg if thc_top >= cbd_top else step.daily_cbd_mg
        height = max(4.0, (TITRATION_HEIGHT - 14) * dose / top)
        x0, x1 = scale.start(span.first), scale.end(span.last)
        parts.append(
            f'<g class="step"><title>{escape(span.title)}</title>'
            f'<rect x="{_f(x0)}" y="{_f(y + TITRATION_HEIGHT - height)}" width="{_f(x1 - x0)}" '
            f'height="{_f(height)}"/>'
        )
        if len(span.label) * CHAR_WIDTH + 4 <= x1 - x0:
            parts.append(_text(x0 + 2, y + TITRATION_HEIGHT - height - 3, span.label))
        parts.append("</g>")
    return parts


def _lane_name(y: float, height: float, name: str) -> str:
    return _text(PLOT_LEFT - 8, y + height / 2 + 4, name, css="lane", anchor="end")


def _nothing(y: float, height: float, words: TimelineWords) -> str:
    return _text(PLOT_LEFT + 6, y + height / 2 + 4, words.gettext("None in this period"), css="none")


def registry_timeline(
    *,
    since: date,
    until: date,
    onset: date | None,
    titration_steps: Sequence[TitrationStepView],
    prescriptions: Sequence[PrescriptionView],
    dispensations: Sequence[DispensationView],
    words: TimelineWords | None = None,
    element_id: str = "registry-timeline",
) -> str:
    """The SVG of the records in force on some day of [since, until], clipped to those days; records outside
    the window are left out. ``onset`` (when inside the window) is marked by a line across every lane."""
    words = words or TimelineWords()
    scale = _Scale(since, until)
    steps = _step_spans(titration_steps, scale, words)
    prescribed = _rows(
        _period_spans(prescriptions, lambda p: Period(p.start_date, p.days), _prescription_span(words), scale)
    )
    supplied = _rows(
        _period_spans(dispensations, lambda d: Period(d.date, d.days_supply), _dispensation_span(words), scale)
    )
    body: list[str] = []
    y = TOP
    body.append(_lane_name(y, TITRATION_HEIGHT, words.gettext("Titration")))
    body.extend(_titration_lane(steps, scale, y) if steps else [_nothing(y, TITRATION_HEIGHT, words)])
    y += TITRATION_HEIGHT + LANE_GAP
    for name, rows in ((words.gettext("Prescriptions"), prescribed), (words.gettext("Dispensations"), supplied)):
        height = ROW_HEIGHT * max(1, len(rows))
        body.append(_lane_name(y, height, name))
        if not rows:
            body.append(_nothing(y, ROW_HEIGHT, words))
        for index, row in enumerate(rows):
            body.extend(_bar(scale, span, y + index * ROW_HEIGHT + 2, ROW_HEIGHT - 4) for span in row)
        y += height + LANE_GAP
    axis_y = y
    height = axis_y + AXIS_HEIGHT
    grid = [_axis(scale, axis_y, words)]
    if onset is not None and since <= onset <= until:
        grid.append(_onset_marker(scale.middle(onset), axis_y, onset, words))
    title = words.gettext("Registry around the onset")
    counts = words.say(
        "From {since} to {until}: titration steps {steps}, prescriptions {prescriptions}, "
        "dispensations {dispensations}.",
        since=words.day(since),
        until=words.day(until),
        steps=len(steps),
        prescriptions=sum(len(r) for r in prescribed),
        dispensations=sum(len(r) for r in supplied),
    )
    marked = (
        words.say("The onset, on {onset}, is marked by a vertical line.", onset=words.day(onset))
        if onset is not None and since <= onset <= until
        else words.gettext("No onset date is known: the period ends on the day the report was received.")
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id={_q(element_id)} class="timeline" role="img" '
        f'viewBox="0 0 {WIDTH} {_f(height)}" width="{WIDTH}" height="{_f(height)}" '
        f'aria-labelledby="{element_id}-title {element_id}-desc">'
        f'<title id="{element_id}-title">{escape(title)}</title>'
        f'<desc id="{element_id}-desc">{escape(counts)} {escape(marked)}</desc>'
        + _style(element_id)
        + "".join(grid)
        + "".join(body)
        + "</svg>"
    )


def _style(element_id: str) -> str:
    """The chart's own look, scoped to its id, so it prints alike wherever the markup goes; the meaning never
    rests on colour alone (every lane is named, the onset labelled)."""
    chart = f"#{element_id}"
    rules = (
        "{font:11px system-ui,sans-serif;fill:#1b1b1b}",
        " .lane{font-weight:600}",
        " .none{fill:#4a4a4a;font-style:italic}",
        " .axis line{stroke:#4a4a4a}",
        " .axis .grid{stroke:#c8c8c8;stroke-dasharray:2 3}",
        " .step rect{fill:#cfe5d3;stroke:#1e6b2e}",
        " .prescription rect{fill:#dbe7f5;stroke:#004f9f}",
        " .prescription.secure rect{stroke-width:2}",
        " .dispensation rect{fill:#fff0d6;stroke:#7a4b00}",
        " .onset line{stroke:#a4000f;stroke-width:2;stroke-dasharray:5 3}",
        " .onset path{fill:#a4000f}",
        " .onset text{fill:#a4000f;font-weight:700}",
    )
    return "<style>" + "".join(chart + rule for rule in rules) + "</style>"


def _axis(scale: _Scale, y: float, words: TimelineWords) -> str:
    """A baseline with a tick every TICK_DAYS days counted back from the window's end, each with its date."""
    parts = [f'<g class="axis"><line x1="{_f(PLOT_LEFT)}" y1="{_f(y)}" x2="{_f(PLOT_RIGHT)}" y2="{_f(y)}"/>']
    tick = scale.until
    while tick >= scale.since:
        x = scale.middle(tick)
        parts.append(f'<line class="grid" x1="{_f(x)}" y1="{_f(TOP - 4)}" x2="{_f(x)}" y2="{_f(y + 4)}"/>')
        parts.append(_text(x, y + 18, words.short_day(tick), anchor="middle"))
        tick -= timedelta(days=TICK_DAYS)
    parts.append("</g>")
    return "".join(parts)


def _onset_marker(x: float, axis_y: float, onset: date, words: TimelineWords) -> str:
    label = words.say("Onset {day}", day=words.short_day(onset))
    # Near the right edge the label ends at the line rather than centring on it, so it stays in the chart.
    anchor, label_x = ("end", x + 6) if x + len(label) * CHAR_WIDTH / 2 > WIDTH - 8 else ("middle", x)
    return (
        f'<g class="onset" data-day="{onset.isoformat()}">'
        f'<line x1="{_f(x)}" y1="{_f(TOP - 12)}" x2="{_f(x)}" y2="{_f(axis_y)}"/>'
        f'<path d="M{_f(x - 5)},{_f(TOP - 16)} L{_f(x + 5)},{_f(TOP - 16)} L{_f(x)},{_f(TOP - 8)} Z"/>'
        + _text(label_x, TOP - 20, label, anchor=anchor)
        + "</g>"
    )
