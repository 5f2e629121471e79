"""The registry timeline of the case page (SPEC §15): records of the window only, clipped to it, the onset
marked where its day falls, and a chart that says what it shows even when the window is empty."""

from __future__ import annotations

from datetime import date
from xml.etree import ElementTree

import pytest

from pv_service.cases.timeline import PLOT_LEFT, PLOT_RIGHT, TimelineWords, registry_timeline
from pv_service.registry.schemas import DispensationView, PrescriptionView, TitrationStepView

SVG = "{http://www.w3.org/2000/svg}"
SINCE, ONSET = date(2023, 3, 3), date(2023, 6, 1)


def step(day: date, thc: float) -> TitrationStepView:
    return TitrationStepView(registry_id="RC-1", date=day, daily_thc_mg=thc, daily_cbd_mg=0.25)


def prescription(record_id: str, start: date, days: int) -> PrescriptionView:
    return PrescriptionView(
        id=record_id,
        registry_id="RC-1",
        prescriber="10000000025",
        product="OIL-T10",
        daily_thc_mg=5.0,
        daily_cbd_mg=0.25,
        start_date=start,
        days=days,
        secure=True,
        weaning=False,
    )


def dispensation(record_id: str, day: date, days: int) -> DispensationView:
    return DispensationView(
        id=record_id,
        prescription_id="RX",
        registry_id="RC-1",
        pharmacist="10000000017",
        date=day,
        quantity=14.0,
        days_supply=days,
        weaning=False,
    )


def chart(**records: object) -> ElementTree.Element:
    arguments = {
        "since": SINCE,
        "until": ONSET,
        "onset": ONSET,
        "titration_steps": [],
        "prescriptions": [],
        "dispensations": [],
        **records,
    }
    return ElementTree.fromstring(registry_timeline(**arguments))  # type: ignore[arg-type]


def titles(svg: ElementTree.Element, css: str) -> list[str]:
    return [g.findtext(f"{SVG}title") or "" for g in svg.iter(f"{SVG}g") if css in (g.get("class") or "").split()]


def onset_x(svg: ElementTree.Element) -> float:
    marker = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "onset")
    line = marker.find(f"{SVG}line")
    assert line is not None and line.get("x1") == line.get("x2")
    return float(line.get("x1") or "nan")


@pytest.mark.parametrize(("onset", "days_in"), [(date(2023, 1, 1), 0), (date(2023, 1, 6), 5), (date(2023, 1, 10), 9)])
def test_the_onset_marker_stands_in_the_middle_of_its_days_slot(onset: date, days_in: int) -> None:
    svg = ElementTree.fromstring(
        registry_timeline(
            since=date(2023, 1, 1),
            until=date(2023, 1, 10),
            onset=onset,
            titration_steps=[],
            prescriptions=[],
            dispensations=[],
        )
    )
    slot = (PLOT_RIGHT - PLOT_LEFT) / 10
    assert onset_x(svg) == pytest.approx(PLOT_LEFT + (days_in + 0.5) * slot, abs=0.06)


def test_the_onset_at_the_end_of_the_window_is_marked_at_its_right_edge_with_a_label() -> None:
    svg = chart()
    assert PLOT_RIGHT - 6 < onset_x(svg) < PLOT_RIGHT
    marker = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "onset")
    assert marker.get("data-day") == "2023-06-01" and marker.findtext(f"{SVG}text") == "Onset 2023-06-01"


def test_only_records_in_force_during_the_window_are_drawn() -> None:
    svg = chart(
        titration_steps=[
            step(date(2022, 5, 3), 1.0),
            step(date(2023, 1, 1), 2.0),
            step(date(2023, 5, 10), 5.0),
            step(date(2023, 6, 20), 2.5),
        ],
        prescriptions=[
            prescription("RX-OLD", date(2022, 5, 3), 28),
            prescription("RX-EDGE", date(2023, 2, 10), 28),
            prescription("RX-MAY", date(2023, 5, 1), 28),
            prescription("RX-AFTER", date(2023, 6, 2), 28),
        ],
        dispensations=[dispensation("DS-OLD", date(2023, 1, 2), 28), dispensation("DS-MAY", date(2023, 5, 1), 28)],
    )
    steps = titles(svg, "step")
    # The step of 2023-01-01 is in force when the window opens; the one of 2022 was replaced before it.
    assert [t.split(":")[0] for t in steps] == ["Titration step of 2023-01-01", "Titration step of 2023-05-10"]
    assert [t.split()[1] for t in titles(svg, "prescription")] == ["RX-EDGE", "RX-MAY"]
    assert [t.split()[1] for t in titles(svg, "dispensation")] == ["DS-MAY"]
    # Drawn inside the plot: a record that began before the window starts at its left edge.
    xs = [float(r.get("x") or 0) for r in svg.iter(f"{SVG}rect")]
    ends = [float(r.get("x") or 0) + float(r.get("width") or 0) for r in svg.iter(f"{SVG}rect")]
    assert min(xs) == PLOT_LEFT and max(ends) <= PLOT_RIGHT + 0.05
    assert "titration steps 2, prescriptions 2, dispensations 1" in (svg.findtext(f"{SVG}desc") or "")


def test_an_empty_window_still_says_what_it_shows() -> None:
    svg = chart()
    assert svg.get("role") == "img"
    labelled = (svg.get("aria-labelledby") or "").split()
    assert [e.get("id") for e in svg if e.tag in (f"{SVG}title", f"{SVG}desc")] == labelled
    assert svg.findtext(f"{SVG}title") == "Registry around the onset"
    assert "titration steps 0, prescriptions 0, dispensations 0" in (svg.findtext(f"{SVG}desc") or "")
    assert list(svg.iter(f"{SVG}rect")) == []
    assert [t.text for t in svg.iter(f"{SVG}text")].count("None in this period") == 3


def test_without_an_onset_no_marker_is_drawn_and_the_description_says_why() -> None:
    svg = chart(onset=None)
    assert not [g for g in svg.iter(f"{SVG}g") if g.get("class") == "onset"]
    assert "No onset date is known" in (svg.findtext(f"{SVG}desc") or "")


def test_the_words_of_the_chart_come_from_its_reader() -> None:
    french = {"Onset {day}": "Début {day}", "Titration": "Titration", "Prescriptions": "Ordonnances"}
    words = TimelineWords(
        gettext=lambda m: french.get(m, m), short_day=lambda d: d.strftime("%d/%m/%Y"), product=lambda c: f"«{c}»"
    )
    said = ElementTree.tostring(chart(prescriptions=[prescription("RX", SINCE, 28)], words=words), encoding="unicode")
    assert "Début 01/06/2023" in said and "Ordonnances" in said and "«OIL-T10»" in said


def test_a_label_never_breaks_the_markup() -> None:
    hostile = TimelineWords(product=lambda code: "<script>x</script>")
    svg = chart(prescriptions=[prescription("RX", SINCE, 28)], words=hostile)
    # Parsed back, the label is text of the title, not an element.
    assert titles(svg, "prescription") == ["Prescription RX from 2023-03-03 to 2023-03-30: <script>x</script>, secure"]
    assert not list(svg.iter("script")) and not list(svg.iter(f"{SVG}script"))
