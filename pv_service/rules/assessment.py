"""What the service concludes from one version of a report, given the registry's facts: no I/O here.

It strings the rules together in SPEC §3's order (validity, completeness, consistency) and §4's
(seriousness, expectedness, priority, deadlines), so intake and follow-ups decide the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from pv_service.reference import ReferenceData
from pv_service.rules import priority as priority_rules
from pv_service.rules import seriousness as seriousness_rules
from pv_service.rules.consistency import RecordedDose, consistency_warnings
from pv_service.rules.field_error import FieldError
from pv_service.rules.report_body import ReportBody, ReportedReaction
from pv_service.rules.report_checks import ReportedPatient, completeness, earliest_onset, validity_errors
from pv_service.rules.workflow import suggested_destinations


@dataclass(frozen=True, slots=True)
class RegistryFacts:
    """The registry's view of the patient a report names, loaded by the service."""

    patient: ReportedPatient
    legal_status: str
    titration: RecordedDose | None
    dispensed: RecordedDose | None
    prescribed_products: frozenset[str]


@dataclass(frozen=True, slots=True)
class ReactionAssessment:
    code: str | None
    text: str | None
    onset_date: date | None
    end_date: date | None
    outcome: str | None
    criteria: tuple[str, ...]
    expected: bool


@dataclass(frozen=True, slots=True)
class Assessment:
    reactions: tuple[ReactionAssessment, ...]
    criteria: tuple[str, ...]
    suggested_criteria: list[str]
    expected: bool
    priority: str
    completeness: float
    missing: list[str]
    warnings: list[FieldError] = field(default_factory=list)

    @property
    def serious(self) -> bool:
        return bool(self.criteria)


def reported_criteria(reaction: ReportedReaction) -> list[str]:
    flags = reaction.seriousness
    return [name for name in seriousness_rules.CRITERIA if flags is not None and getattr(flags, name)]


def check_validity(
    body: ReportBody, *, today: date, patient: ReportedPatient | None, caller_role: str, reference: ReferenceData
) -> list[FieldError]:
    return validity_errors(
        body,
        today=today,
        patient=patient,
        caller_role=caller_role,
        known_products=reference.products.keys(),
        known_reactions=reference.reactions.keys(),
    )


def assess(
    body: ReportBody,
    *,
    facts: RegistryFacts,
    reference: ReferenceData,
    codes: Sequence[str | None],
    staff_criteria: Sequence[Sequence[str] | None] = (),
) -> Assessment:
    """Assess a valid report. ``codes`` are the reactions' codes once triage's are carried over;
    ``staff_criteria``, where PV staff set a reaction's seriousness, replace the reporter's criteria."""
    terms = reference.terms
    product_code = body.product_code
    product = reference.products.get(product_code) if product_code else None
    ratio = product.ratio if product else None
    reactions = []
    for index, (reaction, code) in enumerate(zip(body.reactions or [], codes, strict=True)):
        decided = staff_criteria[index] if index < len(staff_criteria) else None
        reported = list(decided) if decided is not None else reported_criteria(reaction)
        judged = seriousness_rules.assess_reaction(code, reaction.outcome, reported, terms, ratio)
        reactions.append(
            ReactionAssessment(
                code=code,
                text=reaction.text,
                onset_date=reaction.onset_date,
                end_date=reaction.end_date,
                outcome=reaction.outcome,
                criteria=judged.criteria,
                expected=judged.expected,
            )
        )
    judged_reactions = [seriousness_rules.ReactionSeriousness(r.criteria, r.expected) for r in reactions]
    criteria = seriousness_rules.case_criteria(judged_reactions)
    onset = earliest_onset(body)
    context = priority_rules.PatientContext(
        minor=priority_rules.is_minor(facts.legal_status, facts.patient.birth_year, onset),
        pregnant=bool(body.patient and body.patient.pregnant) or "pregnancy_exposure" in body.special_situations,
        during_titration=priority_rules.is_during_titration(
            facts.patient.inclusion_date, onset, reference.titration_protocol.titration_days
        ),
        narcotic_misuse=bool(suggested_destinations(body.special_situations)),
    )
    score, missing = completeness(body, facts.patient.sex)
    warnings = consistency_warnings(
        product_code=product_code,
        content=product.content if product else None,
        reported_thc=body.suspect_product.daily_thc_mg if body.suspect_product else None,
        reported_cbd=body.suspect_product.daily_cbd_mg if body.suspect_product else None,
        titration=facts.titration,
        dispensed=facts.dispensed,
        prescribed_products=facts.prescribed_products,
    )
    return Assessment(
        reactions=tuple(reactions),
        criteria=criteria,
        suggested_criteria=seriousness_rules.suggested_criteria(codes, criteria, terms),
        expected=seriousness_rules.case_expected(judged_reactions),
        priority=priority_rules.priority(judged_reactions, context),
        completeness=score,
        missing=missing,
        warnings=warnings,
    )


def deadlines_for(
    assessment: Assessment, received_at: datetime, serious_since: datetime | None
) -> priority_rules.Deadlines:
    """Serious cases count from the version that first made them serious (SPEC §14)."""
    if assessment.serious:
        return priority_rules.deadlines(True, serious_since or received_at)
    return priority_rules.deadlines(False, received_at)
