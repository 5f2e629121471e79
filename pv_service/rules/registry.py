"""The seed rules on registry records (ANSM, "Focus médecins : qui fait quoi ?"), as pure checks.

Each check returns every broken rule at once, as field errors on the record's own field names; the
same checks run on the API and on the bulk import.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from pv_service.rules.field_error import FieldError
from pv_service.rules.text import Text

# Above 0.3 % THC a medicine goes on a secure (tamper-proof) prescription of at most 28 days.
SECURE_THC_PERCENT = 0.3
SECURE_MAX_DAYS = 28


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """What the rules need to know of a patient."""

    inclusion_date: date
    withdrawal_date: date | None


@dataclass(frozen=True, slots=True)
class Period:
    """An inclusive span of days: [start, start + days - 1]."""

    start: date
    days: int

    @property
    def last(self) -> date:
        return self.start + timedelta(days=self.days - 1)


@dataclass(frozen=True, slots=True)
class DailyDose:
    daily_thc_mg: float
    daily_cbd_mg: float

    def is_lower_than(self, other: DailyDose) -> bool:
        """A weaning step: no component higher, and not the same dose."""
        return (
            self.daily_thc_mg <= other.daily_thc_mg
            and self.daily_cbd_mg <= other.daily_cbd_mg
            and (self.daily_thc_mg, self.daily_cbd_mg) != (other.daily_thc_mg, other.daily_cbd_mg)
        )


def requires_secure_prescription(thc_percent: float) -> bool:
    return thc_percent > SECURE_THC_PERCENT


def inclusion_errors(inclusion_date: date, *, start: date, cutoff: date) -> list[FieldError]:
    """No inclusion before the experimentation started, none from the cut-off (2024-03-27) on."""
    if start <= inclusion_date < cutoff:
        return []
    return [
        FieldError(
            "inclusion_date",
            "outside_inclusion_window",
            Text(
                "Inclusion must fall on or after {start} and before {cutoff}.",
                {"start": start.isoformat(), "cutoff": cutoff.isoformat()},
            ),
        )
    ]


def _after_withdrawal(patient: PatientFacts, on: date) -> bool:
    return patient.withdrawal_date is not None and on >= patient.withdrawal_date


# What a withdrawn patient may still receive, by the kind of record refused.
_STILL_ACCEPTED = {
    "prescriptions": Text(
        "The patient withdrew on {withdrawal}: only adverse-event reports and weaning prescriptions are accepted."
    ),
    "dispensations": Text(
        "The patient withdrew on {withdrawal}: only adverse-event reports and weaning dispensations are accepted."
    ),
    "titration_steps": Text(
        "The patient withdrew on {withdrawal}: only adverse-event reports and weaning titration steps (lower than "
        "the previous one) are accepted."
    ),
    "records": Text(
        "The patient withdrew on {withdrawal}: only adverse-event reports and weaning records are accepted."
    ),
}


def _withdrawn_error(field: str, patient: PatientFacts, what: str) -> FieldError:
    withdrawn = patient.withdrawal_date.isoformat() if patient.withdrawal_date else ""
    return FieldError(field, "patient_withdrawn", replace(_STILL_ACCEPTED[what], values={"withdrawal": withdrawn}))


def _ended_error(field: str, on: date, experimentation_end: date | None) -> list[FieldError]:
    if experimentation_end is not None and on > experimentation_end:
        return [
            FieldError(
                field,
                "experimentation_ended",
                Text("The experimentation ended on {end}.", {"end": experimentation_end.isoformat()}),
            )
        ]
    return []


def prescription_errors(
    *,
    product_thc_percent: float | None,
    declared_secure: bool | None,
    period: Period,
    weaning: bool,
    patient: PatientFacts,
    experimentation_end: date | None,
) -> list[FieldError]:
    errors: list[FieldError] = []
    if product_thc_percent is None:
        errors.append(FieldError("product", "unknown_product", Text("The product is not in the catalogue.")))
    else:
        secure = requires_secure_prescription(product_thc_percent)
        if declared_secure is not None and declared_secure != secure:
            takes = Text(
                "This product ({thc_percent} % THC) takes a secure prescription."
                if secure
                else "This product ({thc_percent} % THC) takes a simple prescription.",
                {"thc_percent": product_thc_percent},
            )
            errors.append(FieldError("secure", "secure_mismatch", takes))
        if secure and period.days > SECURE_MAX_DAYS:
            errors.append(
                FieldError(
                    "days",
                    "duration_exceeds_28_days",
                    Text("A secure prescription covers at most {days} days.", {"days": SECURE_MAX_DAYS}),
                )
            )
    if not weaning and _after_withdrawal(patient, period.start):
        errors.append(_withdrawn_error("start_date", patient, "prescriptions"))
    errors.extend(_ended_error("start_date", period.start, experimentation_end))
    return errors


def dispensation_errors(
    *,
    supply: Period,
    weaning: bool,
    prescription: Period | None,
    patient: PatientFacts | None,
    experimentation_end: date | None,
) -> list[FieldError]:
    errors: list[FieldError] = []
    if prescription is None:
        errors.append(FieldError("prescription_id", "unknown_reference", Text("No such prescription.")))
    elif not prescription.start <= supply.start <= prescription.last:
        # A supply running past the prescription's end is what pharmacies did and the mirror keeps it: the
        # dose cross-check flags it (supply_outside_prescription, late_presentation), SPEC §6 and §15.
        errors.append(
            FieldError(
                "days_supply",
                "dispensation_outside_prescription",
                Text(
                    "A dispensation on {date} lies outside its prescription's period, {start} to {last}.",
                    {
                        "date": supply.start.isoformat(),
                        "start": prescription.start.isoformat(),
                        "last": prescription.last.isoformat(),
                    },
                ),
            )
        )
    if patient is not None and not weaning and _after_withdrawal(patient, supply.start):
        errors.append(_withdrawn_error("date", patient, "dispensations"))
    errors.extend(_ended_error("date", supply.start, experimentation_end))
    return errors


def titration_step_errors(
    *, on: date, dose: DailyDose, previous: DailyDose | None, patient: PatientFacts
) -> list[FieldError]:
    """After withdrawal, a step must lower the dose: the seed forbids an abrupt stop, not weaning."""
    if _after_withdrawal(patient, on) and (previous is None or not dose.is_lower_than(previous)):
        return [_withdrawn_error("daily_thc_mg", patient, "titration_steps")]
    return []


def consultation_errors(*, on: date, kind: str, month: int | None, patient: PatientFacts) -> list[FieldError]:
    errors: list[FieldError] = []
    if kind == "simple" and month is not None:
        errors.append(FieldError("month", "invalid_value", Text("Only complex consultations carry a month (M1…M30).")))
    if _after_withdrawal(patient, on):
        errors.append(_withdrawn_error("date", patient, "records"))
    return errors


def record_date_errors(field: str, on: date, *, today: date, patient: PatientFacts | None) -> list[FieldError]:
    """SPEC §15: no registry record is dated in the future nor before its patient's inclusion."""
    if on > today:
        return [FieldError(field, "future_date", Text("The date {date} is in the future.", {"date": on.isoformat()}))]
    if patient is not None and on < patient.inclusion_date:
        return [
            FieldError(
                field,
                "before_inclusion",
                Text(
                    "The date {date} precedes the patient's inclusion ({inclusion}).",
                    {"date": on.isoformat(), "inclusion": patient.inclusion_date.isoformat()},
                ),
            )
        ]
    return []
