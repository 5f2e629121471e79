"""The dose and titration cross-checks (SPEC §6, §15): the registry's repository streams each patient's
rows as plain tuples, in order; the rules in ``pv_service.rules.crosschecks`` judge one group at a time (a
prescription's dispensations, a patient's dispensations or secure prescriptions, a patient's titration
steps), so memory and time per row stay flat at a million rows."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.context import ServiceContext
from pv_service.jobs.periods import JobPeriod
from pv_service.jobs.runner import JobOutput, findings_output
from pv_service.reference import ReferenceData
from pv_service.registry import repository
from pv_service.rules import crosschecks as rules
from pv_service.rules.doses import ProductContent
from pv_service.rules.findings import Finding
from pv_service.storage.models import Case, CaseReaction

LINK_CHUNK = 500
_PRESCRIPTION_ID = itemgetter(1)
_BY_DATE = attrgetter("date", "id")
_BY_START = attrgetter("start_date", "id")


def _contents(reference: ReferenceData) -> dict[str, ProductContent]:
    """Each product's content, built once for a run rather than once a prescription."""
    return {code: product.content for code, product in reference.products.items()}


async def _link_to_cases(session: AsyncSession, found: list[tuple[Finding, tuple[str, ...]]]) -> list[Finding]:
    """A dose finding concerns the cases of its patient that suspect the product of one of its records;
    each finding comes with those products."""
    patients = sorted({finding.patient_id for finding, _ in found if not finding.cases})
    cases: dict[tuple[int, str], list[int]] = {}
    for start in range(0, len(patients), LINK_CHUNK):
        rows = await session.execute(
            select(Case.patient_id, Case.product, Case.id).where(
                Case.patient_id.in_(patients[start : start + LINK_CHUNK]), Case.state != "nullified"
            )
        )
        for patient_id, product, case_id in rows:
            cases.setdefault((patient_id, product), []).append(case_id)
    linked = []
    for finding, products in found:
        related = (
            ()
            if finding.cases
            else tuple(sorted({c for product in products for c in cases.get((finding.patient_id, product), ())}))
        )
        linked.append(
            Finding(finding.kind, finding.patient_id, finding.records, finding.cases or related, finding.detail)
        )
    return linked


async def _reported_doses(session: AsyncSession, period: JobPeriod) -> dict[int, list[rules.ReportedDose]]:
    """By patient, the doses reported in cases (not nullified) whose first reaction began by the period's end."""
    onset = func.min(CaseReaction.onset_date)
    rows = await session.execute(
        select(Case.id, Case.patient_id, Case.product, onset, Case.daily_thc_mg, Case.daily_cbd_mg)
        .join(CaseReaction, CaseReaction.case_id == Case.id)
        .where(Case.state != "nullified", (Case.daily_thc_mg.is_not(None)) | (Case.daily_cbd_mg.is_not(None)))
        .group_by(Case.id, Case.patient_id, Case.product, Case.daily_thc_mg, Case.daily_cbd_mg)
        .having(onset <= period.last)
    )  # fmt: skip
    reported: dict[int, list[rules.ReportedDose]] = {}
    for row in rows:
        dose = rules.ReportedDose(*row)
        reported.setdefault(dose.patient_id, []).append(dose)
    return reported


def _covering(supplies: Sequence[rules.DispensationFacts], onset: Any) -> rules.DispensationFacts | None:
    """The latest dispensation (of ``supplies``, sorted by date) whose supply covers the onset."""
    chosen = None
    for supply in supplies:
        if supply.date > onset:
            break
        if (onset - supply.date).days < supply.days_supply:
            chosen = supply
    return chosen


@dataclass
class _DoseRun:
    """What the dose cross-check finds while the patients' prescriptions and dispensations go by."""

    context: ServiceContext
    period: JobPeriod
    reported: dict[int, list[rules.ReportedDose]]
    # To be linked to the cases of their patient, with the products of their records.
    findings: list[tuple[Finding, tuple[str, ...]]] = field(default_factory=list)
    on_cases: list[Finding] = field(default_factory=list)  # about a case already
    examined: int = 0

    def __post_init__(self) -> None:
        self.contents = _contents(self.context.reference)
        self.bases = {code: rules.dose_basis(content) for code, content in self.contents.items()}

    def patient(self, patient_id: int, rows: list[Any]) -> None:
        """One patient's rows of ``repository.prescriptions_by_patient``: each prescription's checks, then
        the patient's dispensations across pharmacies and against the doses reported in their cases, and
        their secure prescriptions against each other."""
        settings, until, bases = self.context.settings, self.period.last, self.bases
        quantity_tolerance, refill_tolerance = settings.quantity_tolerance, settings.refill_tolerance
        supplies: list[rules.DispensationFacts] = []
        secure: list[rules.PrescriptionFacts] = []
        found: list[Finding] = []
        for prescription_id, group in groupby(rows, key=_PRESCRIPTION_ID):
            dispensed = list(group)
            first = dispensed[0]
            prescription = rules.PrescriptionFacts(prescription_id, patient_id, *first[7:])
            if prescription.secure and prescription.start_date <= until:
                secure.append(prescription)
            if first[0] is None:  # a secure prescription not dispensed yet
                continue
            facts = [rules.DispensationFacts(*row[:7]) for row in dispensed]
            supplies += facts
            found += rules.dose_findings(
                prescription,
                facts,
                bases.get(prescription.product),
                quantity_tolerance=quantity_tolerance,
                refill_tolerance=refill_tolerance,
            )
        self.examined += len(supplies)
        if len({supply.pharmacist for supply in supplies}) > 1:  # one pharmacist makes no pair of pharmacies
            found += rules.multiple_pharmacy_findings(sorted(supplies, key=_BY_DATE))
        if len(secure) > 1:  # one prescription makes no pair
            found += rules.overlapping_prescription_findings(sorted(secure, key=_BY_START))
        doses = self.reported.get(patient_id)
        if not (found or doses):
            return
        product_of = {record: row[7] for row in rows for record in row[:2]}  # dispensations' and prescriptions'
        self.findings += ((f, tuple(dict.fromkeys(product_of[r] for r in f.records if r in product_of))) for f in found)
        if doses:
            self._reported(doses, sorted(supplies, key=_BY_DATE), product_of)

    def _reported(
        self, doses: list[rules.ReportedDose], by_date: list[rules.DispensationFacts], product_of: dict[str, str]
    ) -> None:
        """Each reported dose against the dispensation of the same product covering its onset."""
        for dose in doses:
            of_product = [supply for supply in by_date if product_of[supply.id] == dose.product]
            self.on_cases += rules.reported_dose_findings(
                dose,
                _covering(of_product, dose.onset),
                self.contents.get(dose.product),
                tolerance=self.context.settings.dose_tolerance,
            )


async def dose_crosscheck(context: ServiceContext, period: JobPeriod) -> JobOutput:
    async with context.database.read_session() as session:
        run = _DoseRun(context, period, await _reported_doses(session, period))
        async with aclosing(repository.prescriptions_by_patient(session, period.last)) as patients:
            async for patient_id, rows in patients:
                run.patient(patient_id, rows)
        findings = await _link_to_cases(session, run.findings)
    return findings_output(findings + run.on_cases, {"dispensations": run.examined})


async def titration_crosscheck(context: ServiceContext, period: JobPeriod) -> JobOutput:
    protocol = context.reference.titration_protocol
    findings: list[Finding] = []
    patients = 0
    async with context.database.read_session() as session:
        reactions = await _reactions_by_patient(session, period)
        async with aclosing(repository.titration_by_patient(session, period.last)) as titrated:
            async for patient_id, rows in titrated:
                patients += 1
                *_, inclusion, withdrawal = rows[0]
                steps = [rules.StepFacts(*row[:3]) for row in rows]
                findings += rules.titration_findings(
                    patient_id, inclusion, steps, reactions.get(patient_id, []), protocol, withdrawal=withdrawal
                )
    return findings_output(findings, {"patients": patients})


async def _reactions_by_patient(session: AsyncSession, period: JobPeriod) -> dict[int, list[rules.ReactionFacts]]:
    rows = await session.execute(
        select(Case.patient_id, Case.id, CaseReaction.code, CaseReaction.text, CaseReaction.onset_date,
               CaseReaction.end_date, CaseReaction.outcome)
        .join(CaseReaction, CaseReaction.case_id == Case.id)
        .where(Case.state != "nullified", CaseReaction.onset_date <= period.last)
    )  # fmt: skip
    reactions: dict[int, list[rules.ReactionFacts]] = {}
    for patient_id, case_id, code, text, onset, end, outcome in rows:
        reactions.setdefault(patient_id, []).append(rules.ReactionFacts(case_id, code, text, onset, end, outcome))
    return reactions
