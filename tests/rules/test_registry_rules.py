from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pv_service.rules import registry as rules

START, CUTOFF = date(2021, 3, 26), date(2024, 3, 27)
ACTIVE = rules.PatientFacts(inclusion_date=date(2022, 5, 3), withdrawal_date=None)
WITHDRAWN = rules.PatientFacts(inclusion_date=date(2022, 5, 3), withdrawal_date=date(2023, 1, 10))


def codes(errors: list) -> list[str]:
    return [e.code for e in errors]


def prescription(**changes: object) -> list:
    arguments: dict = {
        "product_thc_percent": 1.1,
        "declared_secure": None,
        "period": rules.Period(date(2022, 6, 1), 28),
        "weaning": False,
        "patient": ACTIVE,
        "experimentation_end": None,
    }
    return rules.prescription_errors(**{**arguments, **changes})


def test_inclusion_window_bounds() -> None:
    assert rules.inclusion_errors(START, start=START, cutoff=CUTOFF) == []
    assert rules.inclusion_errors(date(2024, 3, 26), start=START, cutoff=CUTOFF) == []
    assert codes(rules.inclusion_errors(CUTOFF, start=START, cutoff=CUTOFF)) == ["outside_inclusion_window"]
    assert codes(rules.inclusion_errors(START - timedelta(days=1), start=START, cutoff=CUTOFF)) == [
        "outside_inclusion_window"
    ]


def test_secure_threshold_is_strictly_above_point_three_percent() -> None:
    assert rules.requires_secure_prescription(0.31)
    assert not rules.requires_secure_prescription(0.3)
    assert not rules.requires_secure_prescription(0.02)


def test_secure_prescription_limits() -> None:
    assert prescription() == []
    assert codes(prescription(period=rules.Period(date(2022, 6, 1), 29))) == ["duration_exceeds_28_days"]
    assert prescription(product_thc_percent=0.3, period=rules.Period(date(2022, 6, 1), 90)) == []
    assert codes(prescription(declared_secure=False)) == ["secure_mismatch"]
    assert codes(prescription(product_thc_percent=0.11, declared_secure=True)) == ["secure_mismatch"]
    assert codes(prescription(product_thc_percent=None)) == ["unknown_product"]


def test_prescription_after_withdrawal_needs_weaning() -> None:
    late = rules.Period(date(2023, 1, 10), 14)
    assert codes(prescription(patient=WITHDRAWN, period=late)) == ["patient_withdrawn"]
    assert prescription(patient=WITHDRAWN, period=late, weaning=True) == []
    assert prescription(patient=WITHDRAWN, period=rules.Period(date(2023, 1, 9), 14)) == []


def test_prescription_after_experimentation_end_is_refused() -> None:
    assert codes(prescription(experimentation_end=date(2022, 5, 31))) == ["experimentation_ended"]
    assert prescription(experimentation_end=date(2022, 6, 1)) == []


@given(
    st.dates(date(2021, 1, 1), date(2026, 1, 1)),
    st.integers(1, 120),
    st.integers(-130, 130),
    st.integers(1, 120),
)
def test_dispensation_is_accepted_exactly_when_it_is_dated_inside_its_prescription(
    start: date, days: int, offset: int, supply_days: int
) -> None:
    prescription_period = rules.Period(start, days)
    supply = rules.Period(start + timedelta(days=offset), supply_days)
    errors = rules.dispensation_errors(
        supply=supply, weaning=False, prescription=prescription_period, patient=None, experimentation_end=None
    )
    # Where the supply ends is the cross-check's to judge (supply_outside_prescription), not the registry's.
    inside = 0 <= offset < days
    assert (errors == []) == inside


def test_weaning_step_must_lower_the_dose() -> None:
    previous = rules.DailyDose(10.0, 0.5)
    on = date(2023, 2, 1)

    def check(dose: rules.DailyDose, before: rules.DailyDose | None = previous) -> list[str]:
        return codes(rules.titration_step_errors(on=on, dose=dose, previous=before, patient=WITHDRAWN))

    assert check(rules.DailyDose(7.5, 0.5)) == []
    assert check(rules.DailyDose(10.0, 0.5)) == ["patient_withdrawn"]
    assert check(rules.DailyDose(12.0, 0.1)) == ["patient_withdrawn"]
    assert check(rules.DailyDose(2.0, 0.1), before=None) == ["patient_withdrawn"]
    assert (
        codes(rules.titration_step_errors(on=on, dose=rules.DailyDose(20, 1), previous=previous, patient=ACTIVE)) == []
    )


def test_consultations_stop_at_withdrawal_and_months_belong_to_complex_ones() -> None:
    assert codes(rules.consultation_errors(on=date(2023, 1, 10), kind="complex", month=6, patient=WITHDRAWN)) == [
        "patient_withdrawn"
    ]
    assert codes(rules.consultation_errors(on=date(2022, 6, 1), kind="simple", month=1, patient=ACTIVE)) == [
        "invalid_value"
    ]
    assert rules.consultation_errors(on=date(2022, 6, 1), kind="complex", month=1, patient=ACTIVE) == []


def test_no_record_is_dated_before_the_inclusion_nor_after_today() -> None:
    today = date(2026, 12, 1)
    assert codes(rules.record_date_errors("date", date(2022, 5, 2), today=today, patient=ACTIVE)) == [
        "before_inclusion"
    ]
    assert rules.record_date_errors("date", date(2022, 5, 3), today=today, patient=ACTIVE) == []
    assert rules.record_date_errors("date", today, today=today, patient=ACTIVE) == []
    assert codes(rules.record_date_errors("date", date(2026, 12, 2), today=today, patient=ACTIVE)) == ["future_date"]
