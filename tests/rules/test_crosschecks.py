"""The daily cross-checks (SPEC §6 dose-crosscheck and titration-crosscheck, §14 "Jobs"), on plain facts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pv_service.rules.crosschecks import (
    DispensationFacts,
    PrescriptionFacts,
    ReactionFacts,
    ReportedDose,
    StepFacts,
    TitrationProtocol,
    dose_basis,
    dose_findings,
    multiple_pharmacy_findings,
    overlapping_prescription_findings,
    reported_dose_findings,
    titration_findings,
)
from pv_service.rules.doses import ProductContent
from pv_service.rules.findings import DOSE_KINDS, TITRATION_KINDS, Finding

# From schemas/reference/products.json.
OIL_T10 = ProductContent(form="oil", thc=10.0, cbd=0.5, ratio="thc_dominant")
OIL_T1C20 = ProductContent(form="oil", thc=1.0, cbd=20.0, ratio="cbd_dominant")
OIL_C50 = ProductContent(form="oil", thc=0.2, cbd=50.0, ratio="cbd_dominant")
OIL_T5C5 = ProductContent(form="oil", thc=5.0, cbd=5.0, ratio="balanced")
FLOWER_T18 = ProductContent(form="flower", thc=18.0, cbd=1.0, ratio="thc_dominant")
FLOWER_T1C12 = ProductContent(form="flower", thc=1.0, cbd=12.0, ratio="cbd_dominant")

PROTOCOL = msgspec.json.decode(
    (Path(__file__).parents[2] / "schemas" / "reference" / "titration_protocol.json").read_bytes(),
    type=TitrationProtocol,
)

START = date(2022, 6, 1)
PATIENT = 7


# --- helpers -------------------------------------------------------------------------------------------


def prescription(**changes: Any) -> PrescriptionFacts:
    values: dict[str, Any] = {
        "id": "RX-1",
        "patient_id": PATIENT,
        "product": "OIL-T10",
        "start_date": START,
        "days": 28,
        "secure": True,
        "daily_thc_mg": 10.0,
        "daily_cbd_mg": 0.5,
    }
    return PrescriptionFacts(**{**values, **changes})


def dispensation(number: int, day: int, days_supply: int, quantity: float = 1.0, **changes: Any) -> DispensationFacts:
    values: dict[str, Any] = {
        "id": f"DS-{number}",
        "prescription_id": "RX-1",
        "patient_id": PATIENT,
        "date": START + timedelta(days=day),
        "quantity": quantity,
        "days_supply": days_supply,
        "pharmacist": "10000000017",
    }
    return DispensationFacts(**{**values, **changes})


def check(
    rx: PrescriptionFacts,
    dispensations: list[DispensationFacts],
    content: ProductContent | None = OIL_T10,
    *,
    quantity_tolerance: float = 0.1,
    refill_tolerance: float = 0.2,
) -> list[Finding]:
    basis = dose_basis(content) if content is not None else None
    return dose_findings(
        rx, dispensations, basis, quantity_tolerance=quantity_tolerance, refill_tolerance=refill_tolerance
    )


def of_kind(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


INCLUSION = date(2022, 5, 3)


def on(day: int) -> date:
    return INCLUSION + timedelta(days=day)


def step(day: int, thc: float, cbd: float = 0.0) -> StepFacts:
    return StepFacts(date=on(day), daily_thc_mg=thc, daily_cbd_mg=cbd)


def ref(day: int) -> str:
    return f"step:{on(day).isoformat()}"


def reaction(
    case_id: int,
    onset: int | None,
    *,
    code: str | None = "10041349",
    text: str | None = None,
    end: int | None = None,
    outcome: str | None = None,
) -> ReactionFacts:
    return ReactionFacts(
        case_id=case_id,
        code=code,
        text=text,
        onset=None if onset is None else on(onset),
        end=None if end is None else on(end),
        outcome=outcome,
    )


def titration(steps: list[StepFacts], reactions: list[ReactionFacts] | None = None) -> list[Finding]:
    return titration_findings(PATIENT, INCLUSION, steps, reactions or [], PROTOCOL)


# --- secure_supply_over_28_days ------------------------------------------------------------------------


def test_secure_dispensation_of_exactly_28_days_is_fine() -> None:
    assert check(prescription(), [dispensation(1, 0, 28, quantity=28.0)]) == []


def test_secure_dispensation_of_29_days_is_flagged() -> None:
    findings = of_kind(check(prescription(days=60), [dispensation(1, 0, 29)]), "secure_supply_over_28_days")
    assert [(f.records, f.detail["days_supply"]) for f in findings] == [(("RX-1", "DS-1"), 29)]


def test_secure_cumulative_supply_reaching_past_28_days_is_flagged_once_at_the_crossing() -> None:
    rx = prescription(days=60)
    two = [dispensation(1, 0, 14), dispensation(2, 14, 14)]
    assert of_kind(check(rx, two), "secure_supply_over_28_days") == []
    four = [*two, dispensation(3, 28, 1), dispensation(4, 29, 7)]
    findings = of_kind(check(rx, four), "secure_supply_over_28_days")
    assert [f.records for f in findings] == [("RX-1", "DS-3")]
    assert findings[0].detail["cumulative_days_supplied"] == 29


def test_simple_prescription_may_supply_more_than_28_days() -> None:
    rx = prescription(secure=False, days=90, daily_thc_mg=0.2, daily_cbd_mg=50.0)
    assert check(rx, [dispensation(1, 0, 90, quantity=90.0)], OIL_C50) == []


# --- supply_outside_prescription -----------------------------------------------------------------------


def test_supply_ending_on_the_prescriptions_last_day_is_inside() -> None:
    assert of_kind(check(prescription(), [dispensation(1, 14, 14)]), "supply_outside_prescription") == []


def test_supply_one_day_past_the_prescription_is_outside() -> None:
    findings = of_kind(check(prescription(), [dispensation(1, 14, 15)]), "supply_outside_prescription")
    assert [f.records for f in findings] == [("RX-1", "DS-1")]
    assert findings[0].detail["supply_last"] == "2022-06-29"
    assert findings[0].detail["prescription_last"] == "2022-06-28"


def test_supply_starting_before_the_prescription_is_outside() -> None:
    findings = check(prescription(), [dispensation(1, -1, 7)])
    assert [f.kind for f in findings] == ["supply_outside_prescription"]


# --- quantity_above_prescribed -------------------------------------------------------------------------


def test_quantity_at_the_tolerance_line_is_fine() -> None:
    # 10 mg/day x 28 days x 1.1 = 308 mg THC = 30.8 ml of a 10 mg/ml oil.
    rx = prescription(secure=False)
    assert (
        of_kind(check(rx, [dispensation(1, 0, 14, 20.0), dispensation(2, 14, 14, 10.8)]), "quantity_above_prescribed")
        == []
    )


def test_quantity_above_the_line_is_one_finding_at_the_crossing_dispensation() -> None:
    rx = prescription(secure=False)
    dispensations = [dispensation(1, 0, 14, 20.0), dispensation(2, 14, 14, 11.0), dispensation(3, 21, 7, 30.0)]
    findings = of_kind(check(rx, dispensations), "quantity_above_prescribed")
    assert [f.records for f in findings] == [("RX-1", "DS-2")]
    detail = findings[0].detail
    assert detail["compared_on"] == "thc"
    assert detail["cumulative_dispensed_mg"] == 310.0


def test_quantity_exactly_at_a_nonterminating_float_boundary_is_fine() -> None:
    # 10 x 28 x 1.1 is 308.00000000000006 in floats; 30.8 ml x 10 is 308.0.
    rx = prescription(secure=False)
    assert check(rx, [dispensation(1, 0, 28, 30.8)]) == []
    assert [f.kind for f in check(rx, [dispensation(1, 0, 28, 30.81)])] == ["quantity_above_prescribed"]


def test_low_thc_oil_quantity_is_compared_on_cbd() -> None:
    rx = prescription(secure=False, product="OIL-C50", daily_thc_mg=0.0, daily_cbd_mg=50.0)
    # 50 mg CBD/day x 28 x 1.1 = 1540 mg = 30.8 ml; THC (0.2 mg/ml) would be over a 0 mg prescription.
    assert check(rx, [dispensation(1, 0, 28, 30.0)], OIL_C50) == []
    findings = check(rx, [dispensation(1, 0, 28, 31.0)], OIL_C50)
    assert [(f.kind, f.detail["compared_on"]) for f in findings] == [("quantity_above_prescribed", "cbd")]


def test_flower_quantity_uses_grams_times_ten_times_percent() -> None:
    # 36 mg/day x 28 x 1.1 = 1108.8 mg; 1 g of 18 % flower is 180 mg THC.
    rx = prescription(product="FLOWER-T18", daily_thc_mg=36.0, daily_cbd_mg=2.0)
    assert check(rx, [dispensation(1, 0, 28, 6.1)], FLOWER_T18) == []
    assert [f.kind for f in check(rx, [dispensation(1, 0, 28, 6.2)], FLOWER_T18)] == ["quantity_above_prescribed"]


def test_quantity_is_not_checked_without_the_products_content() -> None:
    assert check(prescription(), [dispensation(1, 0, 28, 1000.0)], None) == []


# --- dominant cannabinoid ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "daily_thc_mg", "daily_cbd_mg", "fine", "over", "compared_on", "limit_mg"),
    [
        # OIL-T1C20 (1 mg/ml THC): 20 mg CBD/day x 28 x 1.1 = 616 mg = 30.8 ml; on THC 28 ml would exceed 0 mg.
        (OIL_T1C20, 0.0, 20.0, 28.0, 31.0, "cbd", 616.0),
        # FLOWER-T1C12: 1 g is 120 mg CBD; 12 x 28 x 1.1 = 369.6 mg: 3.0 g (360 mg) fine, 3.1 g (372 mg) not.
        (FLOWER_T1C12, 0.0, 12.0, 3.0, 3.1, "cbd", 369.6),
        # OIL-T5C5 (balanced): 5 mg THC/day x 28 x 1.1 = 154 mg: 28 ml (140 mg) fine, 31 ml (155 mg) not.
        (OIL_T5C5, 5.0, 0.0, 28.0, 31.0, "thc", 154.0),
    ],
    ids=["cbd_dominant_oil", "cbd_dominant_flower", "balanced_oil_on_thc"],
)
def test_quantity_is_compared_on_the_dominant_cannabinoid(
    content: ProductContent,
    daily_thc_mg: float,
    daily_cbd_mg: float,
    fine: float,
    over: float,
    compared_on: str,
    limit_mg: float,
) -> None:
    rx = prescription(secure=False, daily_thc_mg=daily_thc_mg, daily_cbd_mg=daily_cbd_mg)
    assert check(rx, [dispensation(1, 0, 28, fine)], content) == []
    findings = check(rx, [dispensation(1, 0, 28, over)], content)
    assert [(f.kind, f.detail["compared_on"]) for f in findings] == [("quantity_above_prescribed", compared_on)]
    assert findings[0].detail["limit_mg"] == pytest.approx(limit_mg)


def test_reported_dose_of_a_cbd_dominant_oil_is_compared_on_cbd() -> None:
    # 28 ml of OIL-T1C20 over 28 days: 1 mg THC and 20 mg CBD a day.
    supply = dispensation(1, 0, 28, 28.0)
    assert reported_dose_findings(reported(5.0, 20.0), supply, OIL_T1C20, tolerance=0.25) == []
    findings = reported_dose_findings(reported(1.0, 30.0), supply, OIL_T1C20, tolerance=0.25)
    assert [(f.kind, f.detail["compared_on"], f.detail["dispensed_daily_mg"]) for f in findings] == [
        ("reported_dose_mismatch", "cbd", 20.0)
    ]


# --- late_presentation ---------------------------------------------------------------------------------
# RX-1 is secure, from 2022-06-01 for 28 days (last day 2022-06-28).


def test_first_dispensation_3_days_after_the_start_is_not_late() -> None:
    # Day 3: 25 days remain; a 26-day supply overruns the prescription but is no late presentation.
    assert of_kind(check(prescription(), [dispensation(1, 3, 26)]), "late_presentation") == []


def test_first_dispensation_4_days_after_the_start_supplying_more_than_remains_is_late() -> None:
    # Day 4 (2022-06-05): 24 days remain; 25 days supplied.
    findings = of_kind(check(prescription(), [dispensation(1, 4, 25)]), "late_presentation")
    assert [(f.kind, f.patient_id, f.records, f.cases) for f in findings] == [
        ("late_presentation", PATIENT, ("RX-1", "DS-1"), ())
    ]
    detail = findings[0].detail
    assert (detail["dispensation_date"], detail["days_after_start"], detail["remaining_days"]) == ("2022-06-05", 4, 24)
    assert detail["max_days_after_start"] == 3


def test_late_first_dispensation_limited_to_the_remaining_days_is_fine() -> None:
    assert of_kind(check(prescription(), [dispensation(1, 4, 24)]), "late_presentation") == []
    assert of_kind(check(prescription(), [dispensation(1, 10, 18)]), "late_presentation") == []


def test_only_the_first_dispensation_is_judged_for_late_presentation() -> None:
    findings = check(prescription(), [dispensation(1, 0, 14), dispensation(2, 20, 14)])
    assert of_kind(findings, "late_presentation") == []


def test_late_presentation_is_only_for_secure_prescriptions() -> None:
    assert of_kind(check(prescription(secure=False), [dispensation(1, 10, 28)]), "late_presentation") == []


# --- overlapping_prescriptions -------------------------------------------------------------------------


def secure_rx(rx_id: str, start: date, days: int = 28, **changes: Any) -> PrescriptionFacts:
    return prescription(id=rx_id, start_date=start, days=days, **changes)


def test_secure_prescriptions_sharing_their_last_day_overlap() -> None:
    # RX-A: 2022-06-01 to 2022-06-28; RX-B starts 2022-06-28.
    rxs = [secure_rx("RX-A", date(2022, 6, 1)), secure_rx("RX-B", date(2022, 6, 28))]
    findings = overlapping_prescription_findings(rxs)
    assert [(f.kind, f.patient_id, f.records, f.cases) for f in findings] == [
        ("overlapping_prescriptions", PATIENT, ("RX-A", "RX-B"), ())
    ]
    assert findings[0].detail["overlap_days"] == 1
    assert findings[0].detail["first"] == {  # type: ignore[comparison-overlap]
        "id": "RX-A",
        "product": "OIL-T10",
        "prescription_start": "2022-06-01",
        "prescription_last": "2022-06-28",
        "prescription_days": 28,
    }


def test_secure_prescription_starting_the_day_after_the_last_one_ends_does_not_overlap() -> None:
    assert (
        overlapping_prescription_findings([secure_rx("RX-A", date(2022, 6, 1)), secure_rx("RX-B", date(2022, 6, 29))])
        == []
    )


def test_each_overlapping_pair_is_one_finding() -> None:
    # A: 06-01..06-28, B: 06-15..07-12, C: 07-01..07-28: A-B (14 days) and B-C (12 days); A ends before C.
    rxs = [
        secure_rx("RX-A", date(2022, 6, 1)),
        secure_rx("RX-B", date(2022, 6, 15)),
        secure_rx("RX-C", date(2022, 7, 1)),
    ]
    findings = overlapping_prescription_findings(rxs)
    assert [(f.records, f.detail["overlap_days"]) for f in findings] == [
        (("RX-A", "RX-B"), 14),
        (("RX-B", "RX-C"), 12),
    ]


def test_prescriptions_that_are_not_secure_do_not_overlap() -> None:
    rxs = [secure_rx("RX-A", date(2022, 6, 1)), secure_rx("RX-B", date(2022, 6, 10), secure=False)]
    assert overlapping_prescription_findings(rxs) == []


def test_a_prescription_of_no_days_overlaps_nothing() -> None:
    rxs = [secure_rx("RX-A", date(2022, 6, 1)), secure_rx("RX-B", date(2022, 6, 10), days=0)]
    assert overlapping_prescription_findings(rxs) == []


# --- multiple_pharmacies -------------------------------------------------------------------------------


def test_overlapping_supplies_from_two_pharmacists_are_multiple_pharmacies() -> None:
    # DS-1 supplies days 0-13 (2022-06-01 to 2022-06-14); DS-2 comes on day 13 from another pharmacist.
    first = dispensation(1, 0, 14, pharmacist="10000000017")
    second = dispensation(2, 13, 14, pharmacist="10000000058", prescription_id="RX-2")
    findings = multiple_pharmacy_findings([first, second])
    assert [(f.kind, f.patient_id, f.records, f.cases) for f in findings] == [
        ("multiple_pharmacies", PATIENT, ("DS-1", "DS-2"), ())
    ]
    assert findings[0].detail["first"] == {  # type: ignore[comparison-overlap]
        "id": "DS-1",
        "pharmacist": "10000000017",
        "dispensation_date": "2022-06-01",
        "supply_last": "2022-06-14",
        "quantity": 1.0,
        "days_supply": 14,
    }
    assert findings[0].detail["second"]["pharmacist"] == "10000000058"  # type: ignore[index]


def test_supply_from_another_pharmacist_the_day_after_the_last_one_ends_is_fine() -> None:
    first = dispensation(1, 0, 14, pharmacist="10000000017")
    assert multiple_pharmacy_findings([first, dispensation(2, 14, 14, pharmacist="10000000058")]) == []


def test_overlapping_supplies_from_the_same_pharmacist_are_not_multiple_pharmacies() -> None:
    assert multiple_pharmacy_findings([dispensation(1, 0, 14), dispensation(2, 5, 14)]) == []


# --- early_refill --------------------------------------------------------------------------------------


def test_refill_exactly_at_the_tolerance_boundary_is_fine() -> None:
    rx = prescription(secure=False, days=90)
    # 30 days x (1 - 0.2) = 24 days.
    assert check(rx, [dispensation(1, 0, 30), dispensation(2, 24, 30)]) == []


def test_refill_one_day_before_the_tolerance_boundary_is_early() -> None:
    rx = prescription(secure=False, days=90)
    findings = check(rx, [dispensation(1, 0, 30), dispensation(2, 23, 30)])
    assert [(f.kind, f.records) for f in findings] == [("early_refill", ("RX-1", "DS-1", "DS-2"))]
    assert findings[0].detail["days_after_previous"] == 23
    assert findings[0].detail["earliest_days_after_previous"] == 24.0


def test_refill_tolerance_is_a_parameter_and_fractional_boundaries_round_against_the_refill() -> None:
    rx = prescription(secure=False, days=90)
    # 10 days x 0.8 = 8: day 8 fine, day 7 early; with 0.25, 7.5 days: day 8 fine, day 7 early.
    assert check(rx, [dispensation(1, 0, 10), dispensation(2, 8, 10)]) == []
    assert [f.kind for f in check(rx, [dispensation(1, 0, 10), dispensation(2, 7, 10)])] == ["early_refill"]
    early = check(rx, [dispensation(1, 0, 10), dispensation(2, 7, 10)], refill_tolerance=0.3)
    assert early == []


def test_refill_compares_with_the_immediately_previous_dispensation() -> None:
    rx = prescription(secure=False, days=90)
    dispensations = [dispensation(1, 0, 10), dispensation(2, 10, 10), dispensation(3, 15, 10)]
    assert [f.records for f in check(rx, dispensations)] == [("RX-1", "DS-2", "DS-3")]


# --- reported_dose_mismatch ----------------------------------------------------------------------------


def reported(thc: float | None, cbd: float | None = None) -> ReportedDose:
    return ReportedDose(
        case_id=42,
        patient_id=PATIENT,
        product="OIL-T10",
        onset=START + timedelta(days=5),
        daily_thc_mg=thc,
        daily_cbd_mg=cbd,
    )


SUPPLY = dispensation(1, 0, 28, 28.0)  # 10 mg THC/day of OIL-T10, 50 mg CBD/day of OIL-C50


def test_reported_dose_within_tolerance_of_the_dispensed_dose_is_fine() -> None:
    for thc in (12.5, 7.5, 10.0):
        assert reported_dose_findings(reported(thc), SUPPLY, OIL_T10, tolerance=0.25) == []


def test_reported_dose_beyond_tolerance_is_a_mismatch_on_the_case_and_dispensation() -> None:
    for thc in (12.6, 7.4):
        findings = reported_dose_findings(reported(thc), SUPPLY, OIL_T10, tolerance=0.25)
        assert [(f.kind, f.patient_id, f.records, f.cases) for f in findings] == [
            ("reported_dose_mismatch", PATIENT, ("DS-1",), (42,))
        ]
        assert findings[0].detail["dispensed_daily_mg"] == 10.0
        assert findings[0].detail["reported_daily_mg"] == thc


def test_reported_dose_of_a_low_thc_oil_is_compared_on_cbd() -> None:
    assert reported_dose_findings(reported(100.0, 50.0), SUPPLY, OIL_C50, tolerance=0.25) == []
    findings = reported_dose_findings(reported(0.2, 70.0), SUPPLY, OIL_C50, tolerance=0.25)
    assert [(f.kind, f.detail["compared_on"]) for f in findings] == [("reported_dose_mismatch", "cbd")]


def test_reported_dose_needs_a_dispensation_a_content_and_a_reported_value() -> None:
    assert reported_dose_findings(reported(100.0), None, OIL_T10, tolerance=0.25) == []
    assert reported_dose_findings(reported(100.0), SUPPLY, None, tolerance=0.25) == []
    assert reported_dose_findings(reported(None, 100.0), SUPPLY, OIL_T10, tolerance=0.25) == []
    assert reported_dose_findings(reported(100.0), SUPPLY._replace(days_supply=0), OIL_T10, tolerance=0.25) == []


# --- titration protocol --------------------------------------------------------------------------------


def test_protocol_is_read_from_the_schemas_copy() -> None:
    assert (
        TitrationProtocol(
            titration_days=28,
            max_start_daily_thc_mg=2.5,
            max_daily_thc_increment_mg=2.5,
            min_days_between_increases=3,
            max_daily_thc_mg=40.0,
            temporal_association_days=7,
        )
        == PROTOCOL
    )


def test_start_at_the_maximum_is_fine_and_above_it_is_too_high() -> None:
    assert titration([step(0, 2.5)]) == []
    findings = titration([step(0, 2.6), step(10, 2.6)])
    assert [(f.kind, f.records) for f in findings] == [("titration_start_too_high", (ref(0),))]
    assert findings[0].detail["step_daily_thc_mg"] == 2.6


def test_increment_of_exactly_the_maximum_is_fine() -> None:
    assert titration([step(0, 2.5), step(3, 5.0), step(6, 7.5)]) == []


def test_increment_above_the_maximum_is_too_large() -> None:
    findings = titration([step(0, 2.5), step(3, 5.1)])
    assert [(f.kind, f.records) for f in findings] == [("titration_increment_too_large", (ref(0), ref(3)))]
    assert abs(findings[0].detail["increment_mg"] - 2.6) < 1e-9  # type: ignore[operator]


def test_large_increment_on_day_28_after_inclusion_is_not_an_anomaly() -> None:
    assert titration([step(0, 2.5), step(28, 10.0)]) == []
    assert [f.kind for f in titration([step(0, 2.5), step(27, 10.0)])] == ["titration_increment_too_large"]


def test_increment_before_inclusion_is_outside_the_titration_period() -> None:
    assert titration([step(-3, 2.5), step(-1, 10.0)]) == []


def test_increases_three_days_apart_are_fine() -> None:
    assert titration([step(0, 2.5), step(3, 5.0), step(6, 7.5), step(9, 10.0)]) == []


def test_increase_two_days_after_the_first_step_is_too_soon() -> None:
    findings = titration([step(0, 2.5), step(2, 5.0)])
    assert [(f.kind, f.records) for f in findings] == [("titration_increase_too_soon", (ref(0), ref(2)))]
    assert findings[0].detail["days_between"] == 2


def test_increase_too_soon_counts_from_the_previous_increase_not_a_reduction() -> None:
    findings = titration([step(0, 2.5), step(3, 5.0), step(4, 2.5), step(5, 5.0)])
    assert [(f.kind, f.records) for f in findings] == [("titration_increase_too_soon", (ref(3), ref(5)))]


def test_quick_increases_after_the_titration_period_are_not_anomalies() -> None:
    assert titration([step(0, 2.5), step(28, 5.0), step(29, 7.5)]) == []


def test_step_at_the_maximum_dose_is_fine_and_above_it_is_flagged() -> None:
    assert titration([step(0, 2.5), step(60, 40.0)]) == []
    findings = titration([step(0, 2.5), step(60, 40.0), step(90, 40.5), step(120, 38.0)])
    assert [(f.kind, f.records) for f in findings] == [("titration_above_max_dose", (ref(90),))]


# --- temporal association, dechallenge, rechallenge ----------------------------------------------------

STEPS = [step(0, 2.5), step(10, 5.0)]


def test_reaction_within_seven_days_of_an_increase_is_temporally_associated() -> None:
    findings = of_kind(titration(STEPS, [reaction(1, 17)]), "temporal_association")
    assert [(f.records, f.cases) for f in findings] == [((ref(10),), (1,))]
    assert findings[0].detail["increase_daily_thc_mg"] == 5.0
    assert findings[0].detail["previous_daily_thc_mg"] == 2.5


def test_reaction_on_the_day_of_the_increase_is_temporally_associated() -> None:
    assert [f.cases for f in of_kind(titration(STEPS, [reaction(1, 10)]), "temporal_association")] == [(1,)]


def test_reaction_eight_days_after_an_increase_is_not_associated() -> None:
    assert of_kind(titration(STEPS, [reaction(1, 18), reaction(2, 9)]), "temporal_association") == []


def test_reaction_soon_after_treatment_start_is_associated_with_the_initiation() -> None:
    findings = of_kind(titration(STEPS, [reaction(1, 2)]), "temporal_association")
    assert [(f.records, f.detail["initiation"]) for f in findings] == [((ref(0),), True)]


def test_reactions_without_onset_are_not_associated() -> None:
    assert titration(STEPS, [reaction(1, None, end=20)]) == []


def test_reactions_of_one_case_after_one_increase_are_one_finding() -> None:
    reactions = [reaction(1, 12, code="A"), reaction(1, 11, code="B")]
    findings = of_kind(titration(STEPS, reactions), "temporal_association")
    assert len(findings) == 1
    assert [r["code"] for r in findings[0].detail["reactions"]] == ["B", "A"]  # type: ignore[attr-defined]


DECHALLENGE_STEPS = [step(0, 2.5), step(3, 5.0), step(10, 2.5)]


def test_reaction_ending_after_a_reduction_is_a_positive_dechallenge() -> None:
    findings = of_kind(titration(DECHALLENGE_STEPS, [reaction(1, 5, end=12)]), "positive_dechallenge")
    assert [(f.records, f.cases) for f in findings] == [((ref(10),), (1,))]
    assert findings[0].detail["reduction_daily_thc_mg"] == 2.5


def test_reaction_that_ended_before_the_reduction_is_not_a_dechallenge() -> None:
    assert of_kind(titration(DECHALLENGE_STEPS, [reaction(1, 5, end=9)]), "positive_dechallenge") == []


def test_recovery_outcome_without_an_end_date_is_no_dechallenge_as_it_does_not_say_when() -> None:
    for outcome in ("recovered", "recovering", "not_recovered"):
        reactions = [reaction(1, 5, outcome=outcome)]
        assert of_kind(titration(DECHALLENGE_STEPS, reactions), "positive_dechallenge") == []


def test_reduction_before_the_onset_is_not_a_dechallenge() -> None:
    assert of_kind(titration(DECHALLENGE_STEPS, [reaction(1, 11, end=14)]), "positive_dechallenge") == []


def test_reaction_ending_exactly_7_days_after_a_reduction_is_a_positive_dechallenge() -> None:
    findings = of_kind(titration(DECHALLENGE_STEPS, [reaction(1, 5, end=17)]), "positive_dechallenge")
    assert [(f.records, f.cases) for f in findings] == [((ref(10),), (1,))]
    assert findings[0].detail["temporal_association_days"] == 7


@pytest.mark.parametrize("end", [18, 375], ids=["8_days", "a_year"])
def test_reaction_ending_8_days_or_a_year_after_a_reduction_is_not_a_dechallenge(end: int) -> None:
    # The reduction is on day 10: day 18 is 8 days after it, day 375 a year.
    assert of_kind(titration(DECHALLENGE_STEPS, [reaction(1, 5, end=end)]), "positive_dechallenge") == []


WITHDRAWN_STEPS = [step(0, 2.5), step(3, 5.0)]
WITHDRAWAL = on(20)  # 2022-05-23


def test_reaction_ending_within_7_days_of_the_withdrawal_is_a_positive_dechallenge() -> None:
    found = titration_findings(
        PATIENT, INCLUSION, WITHDRAWN_STEPS, [reaction(1, 5, end=27)], PROTOCOL, withdrawal=WITHDRAWAL
    )
    findings = of_kind(found, "positive_dechallenge")
    assert [(f.records, f.cases) for f in findings] == [(("withdrawal:2022-05-23",), (1,))]
    assert findings[0].detail["withdrawal_date"] == "2022-05-23"
    assert findings[0].detail["previous_daily_thc_mg"] == 5.0


def test_reaction_ending_8_days_after_the_withdrawal_is_not_a_dechallenge() -> None:
    found = titration_findings(
        PATIENT, INCLUSION, WITHDRAWN_STEPS, [reaction(1, 5, end=28)], PROTOCOL, withdrawal=WITHDRAWAL
    )
    assert of_kind(found, "positive_dechallenge") == []


def test_withdrawal_before_the_onset_is_not_a_dechallenge() -> None:
    found = titration_findings(
        PATIENT, INCLUSION, WITHDRAWN_STEPS, [reaction(1, 21, end=23)], PROTOCOL, withdrawal=WITHDRAWAL
    )
    assert of_kind(found, "positive_dechallenge") == []


def test_same_reaction_after_a_re_increase_following_a_withdrawal_is_a_positive_rechallenge() -> None:
    steps = [*WITHDRAWN_STEPS, step(25, 2.5), step(30, 5.0)]
    reactions = [reaction(1, 5, end=22), reaction(2, 31)]
    found = titration_findings(PATIENT, INCLUSION, steps, reactions, PROTOCOL, withdrawal=WITHDRAWAL)
    findings = of_kind(found, "positive_rechallenge")
    assert [(f.records, f.cases) for f in findings] == [(("withdrawal:2022-05-23", ref(30)), (1, 2))]


RECHALLENGE_STEPS = [*DECHALLENGE_STEPS, step(20, 5.0)]


def test_same_reaction_after_a_re_increase_is_a_positive_rechallenge_on_both_cases() -> None:
    reactions = [reaction(1, 5, end=12), reaction(2, 22)]
    findings = of_kind(titration(RECHALLENGE_STEPS, reactions), "positive_rechallenge")
    assert [(f.records, f.cases) for f in findings] == [((ref(10), ref(20)), (1, 2))]
    assert findings[0].detail["reincrease_date"] == on(20).isoformat()


def test_uncoded_reactions_match_on_normalised_text_for_rechallenge() -> None:
    reactions = [
        reaction(1, 5, code=None, text="Somnolence  diurne", end=12),
        reaction(2, 22, code=None, text="somnolence DIURNE "),
    ]
    assert [f.cases for f in of_kind(titration(RECHALLENGE_STEPS, reactions), "positive_rechallenge")] == [(1, 2)]


def test_other_reaction_after_a_re_increase_is_not_a_rechallenge() -> None:
    reactions = [reaction(1, 5, code="A", end=12), reaction(2, 22, code="B")]
    assert of_kind(titration(RECHALLENGE_STEPS, reactions), "positive_rechallenge") == []


def test_recurrence_exactly_7_days_after_the_re_increase_is_a_positive_rechallenge() -> None:
    reactions = [reaction(1, 5, end=12), reaction(2, 27)]
    findings = of_kind(titration(RECHALLENGE_STEPS, reactions), "positive_rechallenge")
    assert [(f.records, f.cases) for f in findings] == [((ref(10), ref(20)), (1, 2))]


def test_recurrence_8_days_after_the_re_increase_is_not_a_rechallenge() -> None:
    reactions = [reaction(1, 5, end=12), reaction(2, 28)]
    assert of_kind(titration(RECHALLENGE_STEPS, reactions), "positive_rechallenge") == []


def test_recurrence_before_the_re_increase_is_not_a_rechallenge() -> None:
    reactions = [reaction(1, 5, end=12), reaction(2, 19)]
    assert of_kind(titration(RECHALLENGE_STEPS, reactions), "positive_rechallenge") == []


def test_recurrence_without_a_prior_dechallenge_is_not_a_rechallenge() -> None:
    reactions = [reaction(1, 5, end=9), reaction(2, 22)]
    assert of_kind(titration(RECHALLENGE_STEPS, reactions), "positive_rechallenge") == []


def test_titration_findings_do_not_depend_on_the_order_of_reactions() -> None:
    reactions = [reaction(1, 5, end=12), reaction(2, 22), reaction(3, 21, code="B")]
    forward = titration(RECHALLENGE_STEPS, reactions)
    backward = titration(RECHALLENGE_STEPS, list(reversed(reactions)))
    assert [(f.key, f.detail) for f in forward] == [(f.key, f.detail) for f in backward]


# --- Finding.key ---------------------------------------------------------------------------------------


def test_the_same_findings_found_again_have_the_same_keys() -> None:
    dispensations = [dispensation(1, 0, 30, 40.0), dispensation(2, 5, 30, 40.0)]
    first, second = check(prescription(), dispensations), check(prescription(), dispensations)
    assert [f.key for f in first] == [f.key for f in second]
    assert sorted(f.kind for f in first) == [
        "early_refill",
        "quantity_above_prescribed",
        "secure_supply_over_28_days",
        "secure_supply_over_28_days",
        "supply_outside_prescription",
        "supply_outside_prescription",
    ]
    assert len({f.key for f in first}) == len(first)


def test_key_ignores_the_order_of_records_and_cases_and_the_detail() -> None:
    a = Finding("positive_rechallenge", 1, ("step:2022-05-06", "step:2022-05-16"), (2, 1), {"x": 1})
    b = Finding("positive_rechallenge", 1, ("step:2022-05-16", "step:2022-05-06"), (1, 2), {"x": 2})
    assert a.key == b.key
    assert len(a.key) == 64


def test_key_changes_with_kind_patient_records_or_cases() -> None:
    base = Finding("early_refill", 1, ("RX-1", "DS-1", "DS-2"), (), {})
    others = [
        replace(base, records=("RX-1", "DS-1", "DS-3")),
        replace(base, kind="supply_outside_prescription"),
        replace(base, patient_id=2),
        replace(base, cases=(5,)),
        replace(base, records=("RX-1,DS-1", "DS-2")),
    ]
    assert len({base.key, *(f.key for f in others)}) == len(others) + 1


# --- properties ----------------------------------------------------------------------------------------

days = st.dates(min_value=date(2021, 1, 1), max_value=date(2026, 12, 31))
finite = st.floats(min_value=0.0, max_value=10_000.0, allow_nan=False, allow_infinity=False)
contents = st.builds(
    ProductContent,
    form=st.sampled_from(["oil", "flower"]),
    thc=finite,
    cbd=finite,
    ratio=st.sampled_from(["thc_dominant", "balanced", "cbd_dominant"]),
)
prescriptions = st.builds(
    PrescriptionFacts,
    id=st.just("RX-1"),
    patient_id=st.integers(1, 10),
    product=st.just("P"),
    start_date=days,
    days=st.integers(0, 400),
    secure=st.booleans(),
    daily_thc_mg=finite,
    daily_cbd_mg=finite,
)
rows = st.lists(st.tuples(days, finite, st.integers(0, 400)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    rx=prescriptions,
    raw=rows,
    content=st.none() | contents,
    quantity_tolerance=st.floats(0.0, 1.0),
    refill_tolerance=st.floats(0.0, 1.0),
)
def test_dose_findings_never_raise_and_give_only_dose_kinds(
    rx: PrescriptionFacts,
    raw: list[tuple[date, float, int]],
    content: ProductContent | None,
    quantity_tolerance: float,
    refill_tolerance: float,
) -> None:
    dispensations = sorted(
        (
            DispensationFacts(f"DS-{i}", "RX-1", 1, on_date, quantity, supply, "10000000017")
            for i, (on_date, quantity, supply) in enumerate(raw)
        ),
        key=lambda d: (d.date, d.id),
    )
    findings = check(
        rx, dispensations, content, quantity_tolerance=quantity_tolerance, refill_tolerance=refill_tolerance
    )
    assert {f.kind for f in findings} <= DOSE_KINDS
    assert len({f.key for f in findings}) == len(findings)
    known = {d.id for d in dispensations} | {rx.id}
    assert all(set(f.records) <= known for f in findings)
    json.dumps([f.detail for f in findings], allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    step_rows=st.lists(st.tuples(st.integers(-40, 120), finite, finite), max_size=10, unique_by=lambda r: r[0]),
    reaction_rows=st.lists(
        st.tuples(
            st.integers(1, 4),
            st.none() | st.sampled_from(["A", "B"]),
            st.none() | st.sampled_from(["Somnolence", " somnolence", "Nausée"]),
            st.none() | st.integers(-40, 120),
            st.none() | st.integers(-40, 120),
            st.none() | st.sampled_from(["recovered", "recovering", "not_recovered", "fatal"]),
        ),
        max_size=8,
    ),
)
def test_titration_findings_never_raise_and_give_only_titration_kinds(
    step_rows: list[tuple[int, float, float]], reaction_rows: list[tuple[Any, ...]]
) -> None:
    steps = [step(day, thc, cbd) for day, thc, cbd in sorted(step_rows)]
    reactions = [
        reaction(case, onset, code=code, text=text, end=end, outcome=outcome)
        for case, code, text, onset, end, outcome in reaction_rows
    ]
    findings = titration(steps, reactions)
    assert {f.kind for f in findings} <= TITRATION_KINDS
    assert len({f.key for f in findings}) == len(findings)
    json.dumps([f.detail for f in findings], allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    rx_rows=st.lists(st.tuples(days, st.integers(0, 120), st.booleans()), max_size=8),
    supply_rows=st.lists(st.tuples(days, st.integers(0, 120), st.sampled_from(["A", "B", "C"])), max_size=10),
)
def test_narcotic_supply_findings_never_raise_and_pair_known_records_once(
    rx_rows: list[tuple[date, int, bool]], supply_rows: list[tuple[date, int, str]]
) -> None:
    rxs = sorted(
        (
            prescription(id=f"RX-{i}", start_date=start, days=n, secure=secure)
            for i, (start, n, secure) in enumerate(rx_rows)
        ),
        key=lambda p: (p.start_date, p.id),
    )
    supplies = sorted(
        (dispensation(i, 0, n, date=on_date, pharmacist=who) for i, (on_date, n, who) in enumerate(supply_rows)),
        key=lambda d: (d.date, d.id),
    )
    findings = overlapping_prescription_findings(rxs) + multiple_pharmacy_findings(supplies)
    assert len({f.key for f in findings}) == len(findings)
    known = {p.id for p in rxs if p.secure} | {d.id for d in supplies}
    assert all(len(f.records) == 2 and set(f.records) <= known for f in findings)
    json.dumps([f.detail for f in findings], allow_nan=False)
