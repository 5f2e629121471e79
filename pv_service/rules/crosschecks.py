"""The daily cross-checks (SPEC §6 `dose-crosscheck` and `titration-crosscheck`, §14 "Jobs") as pure functions.

They take plain facts and return findings; the job stores each finding once, as an anomaly keyed by
`Finding.key`. They are written for streams of up to a million dispensations: the caller groups rows
(one prescription's dispensations sorted by date then id, one patient's titration steps sorted by date)
and every check is one pass over its group, with binary searches where a reaction meets the steps.

Choices the SPEC leaves open:
- A secure prescription is flagged at each dispensation of more than 28 days and at the one whose running
  total of days supplied first passes 28; the quantity check gives one finding per prescription, at the
  dispensation that crossed the line; an early refill compares with the immediately previous dispensation.
- Doses are compared on the product's dominant cannabinoid (SPEC §15, `doses.compared_on_cbd`).
- The narcotic-supply rules (SPEC §15): a late presentation is judged at a secure prescription's first
  dispensation only; overlapping prescriptions are pairs of one patient's secure prescriptions; multiple
  pharmacies are pairs of one patient's dispensations (of any product: the SPEC does not restrict them
  to secure prescriptions) whose supply periods overlap and whose pharmacists differ. A period of 0 days
  overlaps nothing. Each pair is one finding.
- The protocol's checks (start, increment, increases too soon, maximum) are on THC, the unit the
  protocol is written in. For temporal association and rechallenge an increase is any step with a higher
  THC or CBD dose than the step before, the first step (treatment start) included; a reduction is a
  step with no component higher and not the same dose (as for weaning, `DailyDose.is_lower_than`).
- A reaction is linked to the latest increase on or before its onset. A dechallenge is the latest
  reduction or withdrawal on or before the reaction's end, when it is on or after the onset and the end
  comes within `temporal_association_days` of it (SPEC §15); a reaction without an end date says it
  abated (its outcome) but not when, so it is no positive dechallenge. A rechallenge is the latest
  re-increase on or before the recurrence, after the dechallenge and at most `temporal_association_days`
  before the recurrence's onset. The first step after a withdrawal (a restart) counts as an increase.
- Findings about the same case and the same steps are one finding; `detail["reactions"]` lists them.
- Boundaries are inclusive (exactly at the limit is fine), with a 1e-9 relative margin so that float
  rounding (5.1 − 2.5, 10 × 28 × 1.1) never decides a boundary.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple, TypeVar

import msgspec

from pv_service.rules.doses import ProductContent, compared_on_cbd, dispensed_daily_mg, milligrams
from pv_service.rules.duplicates import normalise_text
from pv_service.rules.findings import Finding
from pv_service.rules.registry import SECURE_MAX_DAYS, DailyDose, Period

_RELATIVE_MARGIN = 1e-9
T = TypeVar("T")

# A narcotic prescription presented more than 3 days after it was written is dispensed only for the days
# that remain of it: code de la santé publique, art. R.5132-30 (arrêté du 1er avril 2022 for the
# experimentation's cannabis medicines, prescribed under the narcotics' rules).
LATE_PRESENTATION_DAYS = 3


# The facts are named tuples: the job builds one per row of a million-row stream, and a tuple of plain
# values is quicker to build than a dataclass and is soon left alone by the cyclic garbage collector.


class PrescriptionFacts(NamedTuple):
    id: str
    patient_id: int
    product: str
    start_date: date
    days: int
    secure: bool
    daily_thc_mg: float
    daily_cbd_mg: float


class DispensationFacts(NamedTuple):
    id: str
    prescription_id: str
    patient_id: int
    date: date
    quantity: float
    days_supply: int
    pharmacist: str


class ReportedDose(NamedTuple):
    case_id: int
    patient_id: int
    product: str
    onset: date
    daily_thc_mg: float | None
    daily_cbd_mg: float | None


class StepFacts(NamedTuple):
    date: date
    daily_thc_mg: float
    daily_cbd_mg: float


class ReactionFacts(NamedTuple):
    case_id: int
    code: str | None
    text: str | None
    onset: date | None
    end: date | None
    outcome: str | None


class DoseBasis(NamedTuple):
    """How a product's dispensed quantities are compared with prescribed doses: on CBD or THC, and the
    milligrams of that component in one unit (ml or g). One per product, not one per prescription."""

    on_cbd: bool
    mg_per_unit: float


def dose_basis(content: ProductContent) -> DoseBasis:
    on_cbd = compared_on_cbd(content)
    thc_per_unit, cbd_per_unit = milligrams(content, 1.0)
    return DoseBasis(on_cbd, cbd_per_unit if on_cbd else thc_per_unit)


class TitrationProtocol(msgspec.Struct, frozen=True):
    """The protocol of ``schemas/reference/titration_protocol.json`` (its other keys, such as ``note``, ignored)."""

    titration_days: int
    max_start_daily_thc_mg: float
    max_daily_thc_increment_mg: float
    min_days_between_increases: int
    max_daily_thc_mg: float
    temporal_association_days: int


def _margin(limit: float) -> float:
    return _RELATIVE_MARGIN * max(1.0, abs(limit))


def _above(value: float, limit: float) -> bool:
    return value - limit > _margin(limit)


def _below(value: float, limit: float) -> bool:
    return limit - value > _margin(limit)


# --- dose-crosscheck ------------------------------------------------------------------------------------


def _dispensation_detail(dispensation: DispensationFacts) -> dict[str, object]:
    supply = Period(dispensation.date, dispensation.days_supply)
    return {
        "dispensation_date": dispensation.date.isoformat(),
        "supply_last": supply.last.isoformat(),
        "quantity": dispensation.quantity,
        "days_supply": dispensation.days_supply,
    }


def dose_findings(
    prescription: PrescriptionFacts,
    dispensations: Sequence[DispensationFacts],
    basis: DoseBasis | None,
    *,
    quantity_tolerance: float,
    refill_tolerance: float,
) -> list[Finding]:
    """Findings on one prescription's dispensations (sorted by date then id), in one pass.

    Without the product's dose basis (no known content), the quantity check is skipped (the others need none).
    """
    findings: list[Finding] = []
    secure = prescription.secure
    # Period.contains on day numbers: one comparison pair per row, no date objects built in the loop.
    first_day = prescription.start_date.toordinal()
    last_day = first_day + prescription.days - 1

    quantity_checked = basis is not None
    on_cbd, mg_per_unit = basis if basis is not None else (False, 0.0)
    prescribed_daily_mg = prescription.daily_cbd_mg if on_cbd else prescription.daily_thc_mg
    quantity_limit_mg = prescribed_daily_mg * prescription.days * (1 + quantity_tolerance)
    quantity_margin = _margin(quantity_limit_mg)  # _above(dispensed, limit), the limit's margin worked out once
    refill_share = 1 - refill_tolerance

    if secure and dispensations:
        findings.extend(_late_presentation(prescription, dispensations[0]))

    days_supplied = 0
    dispensed_mg = 0.0
    previous: DispensationFacts | None = None
    previous_day = 0

    for dispensation in dispensations:
        day = dispensation.date.toordinal()
        days_supply = dispensation.days_supply

        if secure:
            before = days_supplied
            days_supplied += days_supply
            if days_supply > SECURE_MAX_DAYS or before <= SECURE_MAX_DAYS < days_supplied:
                findings.append(_secure_finding(prescription, dispensation, dispensations[0], days_supplied))

        if day < first_day or day + days_supply - 1 > last_day:
            findings.append(_outside_finding(prescription, dispensation))

        if quantity_checked:
            dispensed_mg += dispensation.quantity * mg_per_unit
            if dispensed_mg - quantity_limit_mg > quantity_margin:
                quantity_checked = False  # one finding per prescription: the dispensation that crossed the line
                findings.append(
                    Finding(
                        "quantity_above_prescribed",
                        prescription.patient_id,
                        (prescription.id, dispensation.id),
                        (),
                        {
                            **_dispensation_detail(dispensation),
                            **_prescription_detail(prescription),
                            "compared_on": "cbd" if on_cbd else "thc",
                            "prescribed_daily_mg": prescribed_daily_mg,
                            "prescribed_mg": prescribed_daily_mg * prescription.days,
                            "tolerance": quantity_tolerance,
                            "limit_mg": quantity_limit_mg,
                            "cumulative_dispensed_mg": dispensed_mg,
                        },
                    )
                )

        if previous is not None:
            earliest = previous.days_supply * refill_share
            if _below(day - previous_day, earliest):
                findings.append(_early_refill_finding(prescription, previous, dispensation, earliest, refill_tolerance))
        previous, previous_day = dispensation, day

    return findings


def _late_presentation(prescription: PrescriptionFacts, first: DispensationFacts) -> list[Finding]:
    """The first dispensation, presented more than 3 days after the start, supplies more than what remains."""
    days_late = (first.date - prescription.start_date).days
    remaining = prescription.days - days_late
    if days_late <= LATE_PRESENTATION_DAYS or first.days_supply <= remaining:
        return []
    return [
        Finding(
            "late_presentation",
            prescription.patient_id,
            (prescription.id, first.id),
            (),
            {
                **_dispensation_detail(first),
                **_prescription_detail(prescription),
                "days_after_start": days_late,
                "max_days_after_start": LATE_PRESENTATION_DAYS,
                "remaining_days": max(remaining, 0),
            },
        )
    ]


def _prescription_detail(prescription: PrescriptionFacts) -> dict[str, object]:
    return {
        "prescription_start": prescription.start_date.isoformat(),
        "prescription_last": Period(prescription.start_date, prescription.days).last.isoformat(),
        "prescription_days": prescription.days,
    }


def _secure_finding(
    prescription: PrescriptionFacts, dispensation: DispensationFacts, first: DispensationFacts, days_supplied: int
) -> Finding:
    return Finding(
        "secure_supply_over_28_days",
        prescription.patient_id,
        (prescription.id, dispensation.id),
        (),
        {
            **_dispensation_detail(dispensation),
            "first_dispensation_date": first.date.isoformat(),
            "cumulative_days_supplied": days_supplied,
            "max_days": SECURE_MAX_DAYS,
        },
    )


def _outside_finding(prescription: PrescriptionFacts, dispensation: DispensationFacts) -> Finding:
    return Finding(
        "supply_outside_prescription",
        prescription.patient_id,
        (prescription.id, dispensation.id),
        (),
        {**_dispensation_detail(dispensation), **_prescription_detail(prescription)},
    )


def _early_refill_finding(
    prescription: PrescriptionFacts,
    previous: DispensationFacts,
    dispensation: DispensationFacts,
    earliest: float,
    refill_tolerance: float,
) -> Finding:
    return Finding(
        "early_refill",
        prescription.patient_id,
        (prescription.id, previous.id, dispensation.id),
        (),
        {
            "previous_date": previous.date.isoformat(),
            "previous_days_supply": previous.days_supply,
            "dispensation_date": dispensation.date.isoformat(),
            "days_after_previous": (dispensation.date - previous.date).days,
            "earliest_days_after_previous": earliest,
            "tolerance": refill_tolerance,
        },
    )


def reported_dose_findings(
    reported: ReportedDose,
    supplied: DispensationFacts | None,
    content: ProductContent | None,
    *,
    tolerance: float,
) -> list[Finding]:
    """The case's reported daily dose against the dispensation of that product covering the onset.

    The caller picks `supplied`; nothing to compare without it, without the product's content, without a
    reported dose on the compared component, or with no days supplied.
    """
    if supplied is None or content is None or supplied.days_supply <= 0:
        return []
    on_cbd = compared_on_cbd(content)
    reported_mg = reported.daily_cbd_mg if on_cbd else reported.daily_thc_mg
    if reported_mg is None:
        return []
    thc_mg, cbd_mg = dispensed_daily_mg(content, supplied.quantity, supplied.days_supply)
    dispensed_mg = cbd_mg if on_cbd else thc_mg
    if not _above(abs(reported_mg - dispensed_mg), tolerance * abs(dispensed_mg)):
        return []
    return [
        Finding(
            "reported_dose_mismatch",
            reported.patient_id,
            (supplied.id,),
            (reported.case_id,),
            {
                "product": reported.product,
                "onset": reported.onset.isoformat(),
                "compared_on": "cbd" if on_cbd else "thc",
                "reported_daily_mg": reported_mg,
                "dispensed_daily_mg": dispensed_mg,
                "tolerance": tolerance,
                **_dispensation_detail(supplied),
            },
        )
    ]


# --- narcotic supply across a patient's prescriptions and dispensations -----------------------------------


def _overlapping_pairs(periods: Iterable[tuple[date, int, T]]) -> Iterator[tuple[T, T]]:
    """Pairs (earlier, later) of items whose periods (start, days) share a day, from periods sorted by start."""
    running: list[tuple[int, T]] = []  # (last day, item) of the periods still running
    for start_date, days, item in periods:
        if days <= 0:
            continue
        start = start_date.toordinal()
        running = [(last, other) for last, other in running if last >= start]
        for _, other in running:
            yield other, item
        running.append((start + days - 1, item))


def overlapping_prescription_findings(prescriptions: Sequence[PrescriptionFacts]) -> list[Finding]:
    """Pairs of one patient's secure prescriptions (sorted by start date then id) whose periods overlap."""
    secure = ((p.start_date, p.days, p) for p in prescriptions if p.secure)
    findings = []
    for first, second in _overlapping_pairs(secure):
        first_period, second_period = Period(first.start_date, first.days), Period(second.start_date, second.days)
        overlap_last = min(first_period.last, second_period.last)
        findings.append(
            Finding(
                "overlapping_prescriptions",
                first.patient_id,
                (first.id, second.id),
                (),
                {
                    "first": {"id": first.id, "product": first.product, **_prescription_detail(first)},
                    "second": {"id": second.id, "product": second.product, **_prescription_detail(second)},
                    "overlap_days": (overlap_last - second.start_date).days + 1,
                },
            )
        )
    return findings


def multiple_pharmacy_findings(dispensations: Sequence[DispensationFacts]) -> list[Finding]:
    """Pairs of one patient's dispensations (sorted by date then id) by different pharmacists whose supply
    periods overlap."""
    supplies = ((d.date, d.days_supply, d) for d in dispensations)
    return [
        Finding(
            "multiple_pharmacies",
            first.patient_id,
            (first.id, second.id),
            (),
            {
                "first": {"id": first.id, "pharmacist": first.pharmacist, **_dispensation_detail(first)},
                "second": {"id": second.id, "pharmacist": second.pharmacist, **_dispensation_detail(second)},
            },
        )
        for first, second in _overlapping_pairs(supplies)
        if first.pharmacist != second.pharmacist
    ]


# --- titration-crosscheck -------------------------------------------------------------------------------


def _step_record(step: StepFacts) -> str:
    return f"step:{step.date.isoformat()}"


def _step_detail(prefix: str, step: StepFacts) -> dict[str, object]:
    return {
        f"{prefix}_date": step.date.isoformat(),
        f"{prefix}_daily_thc_mg": step.daily_thc_mg,
        f"{prefix}_daily_cbd_mg": step.daily_cbd_mg,
    }


def _reaction_detail(reaction: ReactionFacts) -> dict[str, object]:
    return {
        "case_id": reaction.case_id,
        "code": reaction.code,
        "text": reaction.text,
        "onset": reaction.onset.isoformat() if reaction.onset else None,
        "end": reaction.end.isoformat() if reaction.end else None,
        "outcome": reaction.outcome,
    }


def _reaction_order(reaction: ReactionFacts) -> tuple[date, int, str, str, date, str]:
    return (
        reaction.onset or date.min,
        reaction.case_id,
        reaction.code or "",
        reaction.text or "",
        reaction.end or date.min,
        reaction.outcome or "",
    )


def _dose(step: StepFacts) -> DailyDose:
    return DailyDose(step.daily_thc_mg, step.daily_cbd_mg)


def _latest_at_or_before(dates: list[date], on: date) -> int | None:
    index = bisect_right(dates, on) - 1
    return index if index >= 0 else None


def _protocol_findings(
    patient_id: int, inclusion: date, steps: Sequence[StepFacts], protocol: TitrationProtocol
) -> list[Finding]:
    findings: list[Finding] = []
    if not steps:
        return findings
    first = steps[0]
    if _above(first.daily_thc_mg, protocol.max_start_daily_thc_mg):
        findings.append(
            Finding(
                "titration_start_too_high",
                patient_id,
                (_step_record(first),),
                (),
                {
                    **_step_detail("step", first),
                    "inclusion_date": inclusion.isoformat(),
                    "max_start_daily_thc_mg": protocol.max_start_daily_thc_mg,
                },
            )
        )

    max_dose, max_dose_margin = protocol.max_daily_thc_mg, _margin(protocol.max_daily_thc_mg)  # _above, unrolled
    reference = first  # the previous increase, or the first step
    for index, step in enumerate(steps):
        if step.daily_thc_mg - max_dose > max_dose_margin:
            findings.append(
                Finding(
                    "titration_above_max_dose",
                    patient_id,
                    (_step_record(step),),
                    (),
                    {**_step_detail("step", step), "max_daily_thc_mg": protocol.max_daily_thc_mg},
                )
            )
        if index == 0:
            continue
        previous = steps[index - 1]
        increment = step.daily_thc_mg - previous.daily_thc_mg
        if increment <= 0:
            continue
        day = (step.date - inclusion).days
        in_titration = 0 <= day < protocol.titration_days
        if in_titration and _above(increment, protocol.max_daily_thc_increment_mg):
            findings.append(
                Finding(
                    "titration_increment_too_large",
                    patient_id,
                    (_step_record(previous), _step_record(step)),
                    (),
                    {
                        **_step_detail("previous", previous),
                        **_step_detail("step", step),
                        "increment_mg": increment,
                        "max_daily_thc_increment_mg": protocol.max_daily_thc_increment_mg,
                        "days_since_inclusion": day,
                        "titration_days": protocol.titration_days,
                    },
                )
            )
        days_between = (step.date - reference.date).days
        if in_titration and days_between < protocol.min_days_between_increases:
            findings.append(
                Finding(
                    "titration_increase_too_soon",
                    patient_id,
                    (_step_record(reference), _step_record(step)),
                    (),
                    {
                        **_step_detail("reference", reference),
                        **_step_detail("step", step),
                        "days_between": days_between,
                        "min_days_between_increases": protocol.min_days_between_increases,
                        "days_since_inclusion": day,
                        "titration_days": protocol.titration_days,
                    },
                )
            )
        reference = step
    return findings


def _same_reaction(a: ReactionFacts, b: ReactionFacts) -> bool:
    """Same code when both are coded; otherwise the same non-empty normalised text."""
    if a.code and b.code:
        return a.code == b.code
    if a.text and b.text:
        left = normalise_text(a.text)
        return bool(left) and left == normalise_text(b.text)
    return False


@dataclass(frozen=True, slots=True)
class _Dechallenge:
    """A dose reduction (a step) or the withdrawal: what a reaction may abate after."""

    date: date
    record: str
    detail: dict[str, object]


def _dechallenges(steps: Sequence[StepFacts], reductions: list[int], withdrawal: date | None) -> list[_Dechallenge]:
    events = [
        _Dechallenge(
            steps[i].date,
            _step_record(steps[i]),
            {**_step_detail("previous", steps[i - 1]), **_step_detail("reduction", steps[i])},
        )
        for i in reductions
    ]
    if withdrawal is not None:
        detail: dict[str, object] = {"withdrawal_date": withdrawal.isoformat()}
        last = _latest_at_or_before([s.date for s in steps], withdrawal)
        if last is not None:
            detail.update(_step_detail("previous", steps[last]))
        events.append(_Dechallenge(withdrawal, f"withdrawal:{withdrawal.isoformat()}", detail))
        events.sort(key=lambda event: event.date)  # stable: a reduction on the withdrawal date comes first
    return events


def titration_findings(
    patient_id: int,
    inclusion: date,
    steps: Sequence[StepFacts],
    reactions: Sequence[ReactionFacts],
    protocol: TitrationProtocol,
    *,
    withdrawal: date | None = None,
) -> list[Finding]:
    """Findings on one patient's titration steps (sorted by date), the reactions of their cases and the
    patient's withdrawal date, if any."""
    findings = _protocol_findings(patient_id, inclusion, steps, protocol)
    if not steps or not reactions:
        return findings
    window = protocol.temporal_association_days

    increases: list[int] = []  # step indexes, the first step (treatment start) included
    reductions: list[int] = []
    for index, step in enumerate(steps):
        if index == 0:
            increases.append(index)
            continue
        dose, previous = _dose(step), _dose(steps[index - 1])
        if dose.daily_thc_mg > previous.daily_thc_mg or dose.daily_cbd_mg > previous.daily_cbd_mg:
            increases.append(index)
        elif dose.is_lower_than(previous):
            reductions.append(index)
    increase_dates = [steps[i].date for i in increases]
    events = _dechallenges(steps, reductions, withdrawal)
    event_dates = [event.date for event in events]

    ordered = sorted((r for r in reactions if r.onset is not None), key=_reaction_order)

    associated: dict[tuple[int, int], list[ReactionFacts]] = {}
    dechallenges: dict[tuple[int, int], list[ReactionFacts]] = {}
    dechallenged: list[tuple[ReactionFacts, int]] = []
    for reaction, onset in ((r, r.onset) for r in ordered if r.onset is not None):
        latest = _latest_at_or_before(increase_dates, onset)
        if latest is not None and (onset - increase_dates[latest]).days <= window:
            associated.setdefault((reaction.case_id, increases[latest]), []).append(reaction)
        if reaction.end is not None:
            event = _latest_at_or_before(event_dates, reaction.end)
            if event is not None and onset <= event_dates[event] and (reaction.end - event_dates[event]).days <= window:
                dechallenges.setdefault((reaction.case_id, event), []).append(reaction)
                dechallenged.append((reaction, event))

    for (case_id, index), group in associated.items():
        step = steps[index]
        findings.append(
            Finding(
                "temporal_association",
                patient_id,
                (_step_record(step),),
                (case_id,),
                {
                    **_step_detail("increase", step),
                    "initiation": index == 0,
                    **(_step_detail("previous", steps[index - 1]) if index > 0 else {}),
                    "temporal_association_days": window,
                    "reactions": [_reaction_detail(r) for r in group],
                },
            )
        )

    for (case_id, event), group in dechallenges.items():
        findings.append(
            Finding(
                "positive_dechallenge",
                patient_id,
                (events[event].record,),
                (case_id,),
                {
                    **events[event].detail,
                    "temporal_association_days": window,
                    "reactions": [_reaction_detail(r) for r in group],
                },
            )
        )

    findings.extend(_rechallenges(patient_id, steps, ordered, events, dechallenged, increases, window))
    return findings


def _rechallenges(
    patient_id: int,
    steps: Sequence[StepFacts],
    reactions: list[ReactionFacts],
    events: list[_Dechallenge],
    dechallenged: list[tuple[ReactionFacts, int]],
    increases: list[int],
    window: int,
) -> list[Finding]:
    if not dechallenged:
        return []
    increase_dates = [steps[i].date for i in increases]
    by_code: dict[str, list[ReactionFacts]] = {}
    by_text: dict[str, list[ReactionFacts]] = {}
    for reaction in reactions:
        if reaction.code:
            by_code.setdefault(reaction.code, []).append(reaction)
        if reaction.text and (text := normalise_text(reaction.text)):
            by_text.setdefault(text, []).append(reaction)

    groups: dict[tuple[int, int, int, int], list[tuple[ReactionFacts, ReactionFacts]]] = {}
    for first, event in dechallenged:
        candidates = list(by_code.get(first.code, ())) if first.code else []
        if first.text and (text := normalise_text(first.text)):
            candidates.extend(r for r in by_text.get(text, ()) if not (r.code and first.code))
        abated_after = events[event].date
        for again in candidates:
            if not _same_reaction(first, again) or again.onset is None:
                continue
            latest = _latest_at_or_before(increase_dates, again.onset)
            if latest is None or increase_dates[latest] <= abated_after:
                continue
            if (again.onset - increase_dates[latest]).days > window:
                continue
            key = (first.case_id, again.case_id, event, increases[latest])
            groups.setdefault(key, []).append((first, again))

    findings = []
    for (first_case, again_case, event, increase), pairs in sorted(groups.items()):
        findings.append(
            Finding(
                "positive_rechallenge",
                patient_id,
                (events[event].record, _step_record(steps[increase])),
                tuple(dict.fromkeys((first_case, again_case))),
                {
                    **events[event].detail,
                    **_step_detail("reincrease", steps[increase]),
                    "temporal_association_days": window,
                    "dechallenged": [_reaction_detail(first) for first, _ in pairs],
                    "recurrences": [_reaction_detail(again) for _, again in pairs],
                },
            )
        )
    return findings
