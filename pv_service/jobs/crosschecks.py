"""The dose and titration cross-checks (SPEC §6, §15): the database streams rows in order, the rules in
``pv_service.rules.crosschecks`` judge one group at a time (a prescription's dispensations, a patient's
dispensations or secure prescriptions, a patient's titration steps), so memory stays flat at a million rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from itertools import groupby
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.context import ServiceContext
from pv_service.jobs.periods import JobPeriod
from pv_service.jobs.runner import JobOutput, findings_output
from pv_service.reference import ReferenceData
from pv_service.rules import crosschecks as rules
from pv_service.rules.doses import ProductContent
from pv_service.rules.findings import Finding
from pv_service.storage.models import Case, CaseReaction, Dispensation, Patient, Prescription, TitrationStep, Withdrawal

K = TypeVar("K")
STREAM_BATCH = 10_000
# What a dispensation supplied, and of which product.
SUPPLY_COLUMNS = (
    Dispensation.id,
    Dispensation.prescription_id,
    Dispensation.patient_id,
    Dispensation.date,
    Dispensation.quantity,
    Dispensation.days_supply,
    Dispensation.pharmacist,
    Prescription.product,
)
LINK_CHUNK = 500


async def _groups(
    session: AsyncSession, query: Select[Any], key: Callable[[Any], K]
) -> AsyncIterator[tuple[K, list[Any]]]:
    """Consecutive rows sharing a key, from a query already ordered by it."""
    result = await session.stream(query.execution_options(yield_per=STREAM_BATCH))
    pending: list[Any] = []
    pending_key: Any = None
    async for partition in result.partitions():
        for group_key, rows in groupby(partition, key=key):
            if pending and group_key != pending_key:
                yield pending_key, pending
                pending = []
            pending_key = group_key
            pending.extend(rows)
    if pending:
        yield pending_key, pending


def _content(reference: ReferenceData, code: str) -> ProductContent | None:
    product = reference.products.get(code)
    return product.content if product else None


async def _link_to_cases(session: AsyncSession, findings: list[Finding], product_of: dict[str, str]) -> list[Finding]:
    """A dose finding concerns the cases of its patient that suspect the product of one of its records."""
    patients = sorted({f.patient_id for f in findings if not f.cases})
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
    for finding in findings:
        products = dict.fromkeys(product_of[r] for r in finding.records if r in product_of)
        related = (
            ()
            if finding.cases
            else tuple(sorted({c for product in products for c in cases.get((finding.patient_id, product), ())}))
        )
        linked.append(
            Finding(finding.kind, finding.patient_id, finding.records, finding.cases or related, finding.detail)
        )
    return linked


def _dispensation(row: Any) -> rules.DispensationFacts:
    return rules.DispensationFacts(
        row.id, row.prescription_id, row.patient_id, row.date, row.quantity, row.days_supply, row.pharmacist
    )


def _prescription(row: Any) -> rules.PrescriptionFacts:
    return rules.PrescriptionFacts(
        id=row.prescription_id,
        patient_id=row.patient_id,
        product=row.product,
        start_date=row.start_date,
        days=row.days,
        secure=row.secure,
        daily_thc_mg=row.daily_thc_mg,
        daily_cbd_mg=row.daily_cbd_mg,
    )


PRESCRIPTION_COLUMNS = (
    Prescription.start_date,
    Prescription.days,
    Prescription.secure,
    Prescription.daily_thc_mg,
    Prescription.daily_cbd_mg,
)


async def _dispensation_findings(
    session: AsyncSession, context: ServiceContext, period: JobPeriod, product_of: dict[str, str]
) -> tuple[list[Finding], int]:
    """One patient's dispensations at a time, by prescription: each prescription's checks, then the
    patient's dispensations across pharmacies."""
    query = (
        select(*SUPPLY_COLUMNS, *PRESCRIPTION_COLUMNS)
        .join(Prescription, Prescription.id == Dispensation.prescription_id)
        .where(Dispensation.date <= period.last)
        .order_by(Dispensation.patient_id, Dispensation.prescription_id, Dispensation.date, Dispensation.id)
    )
    settings = context.settings
    findings: list[Finding] = []
    examined = 0
    async for _, rows in _groups(session, query, key=lambda row: row.patient_id):
        examined += len(rows)
        found: list[Finding] = []
        for _, group in groupby(rows, key=lambda row: row.prescription_id):
            prescribed = list(group)
            found += rules.dose_findings(
                _prescription(prescribed[0]),
                [_dispensation(r) for r in prescribed],
                _content(context.reference, prescribed[0].product),
                quantity_tolerance=settings.quantity_tolerance,
                refill_tolerance=settings.refill_tolerance,
            )
        by_date = sorted(rows, key=lambda row: (row.date, row.id))
        found += rules.multiple_pharmacy_findings([_dispensation(r) for r in by_date])
        if found:
            product_of.update((r.id, r.product) for r in rows)
            product_of.update((r.prescription_id, r.product) for r in rows)
            findings.extend(found)
    return findings, examined


async def _overlapping_prescription_findings(
    session: AsyncSession, period: JobPeriod, product_of: dict[str, str]
) -> list[Finding]:
    """One patient's secure prescriptions at a time, by start date."""
    query = (
        select(Prescription.id.label("prescription_id"), Prescription.patient_id, Prescription.product,
               *PRESCRIPTION_COLUMNS)
        .where(Prescription.secure.is_(True), Prescription.start_date <= period.last)
        .order_by(Prescription.patient_id, Prescription.start_date, Prescription.id)
    )  # fmt: skip
    findings: list[Finding] = []
    async for _, rows in _groups(session, query, key=lambda row: row.patient_id):
        found = rules.overlapping_prescription_findings([_prescription(r) for r in rows])
        if found:
            product_of.update((r.prescription_id, r.product) for r in rows)
            findings.extend(found)
    return findings


async def _reported_dose_findings(session: AsyncSession, context: ServiceContext, period: JobPeriod) -> list[Finding]:
    """Doses reported in cases against the dispensation of the same product covering the onset."""
    onset = func.min(CaseReaction.onset_date)
    cases_query = (
        select(Case.id, Case.patient_id, Case.product, Case.daily_thc_mg, Case.daily_cbd_mg, onset.label("onset"))
        .join(CaseReaction, CaseReaction.case_id == Case.id)
        .where(Case.state != "nullified", (Case.daily_thc_mg.is_not(None)) | (Case.daily_cbd_mg.is_not(None)))
        .group_by(Case.id, Case.patient_id, Case.product, Case.daily_thc_mg, Case.daily_cbd_mg)
        .having(onset <= period.last)
    )
    reported: dict[tuple[int, str], list[Any]] = {}
    for row in await session.execute(cases_query):
        reported.setdefault((row.patient_id, row.product), []).append(row)
    if not reported:
        return []
    supply_query = (
        select(*SUPPLY_COLUMNS)
        .join(Prescription, Prescription.id == Dispensation.prescription_id)
        .where(Dispensation.date <= period.last, Dispensation.patient_id.in_(sorted({p for p, _ in reported})))
        .order_by(Dispensation.patient_id, Prescription.product, Dispensation.date)
    )
    findings: list[Finding] = []
    async for (patient_id, product), rows in _groups(session, supply_query, key=lambda r: (r.patient_id, r.product)):
        for case in reported.get((patient_id, product), ()):
            covering = _covering(rows, case.onset)
            supplied = _dispensation(covering) if covering else None
            dose = rules.ReportedDose(case.id, patient_id, product, case.onset, case.daily_thc_mg, case.daily_cbd_mg)
            findings += rules.reported_dose_findings(
                dose, supplied, _content(context.reference, product), tolerance=context.settings.dose_tolerance
            )
    return findings


def _covering(rows: Sequence[Any], onset: Any) -> Any:
    """The latest dispensation whose supply covers the onset."""
    chosen = None
    for row in rows:
        if row.date > onset:
            break
        if (onset - row.date).days < row.days_supply:
            chosen = row
    return chosen


async def dose_crosscheck(context: ServiceContext, period: JobPeriod) -> JobOutput:
    product_of: dict[str, str] = {}
    async with context.database.read_session() as session:
        findings, examined = await _dispensation_findings(session, context, period, product_of)
        findings += await _overlapping_prescription_findings(session, period, product_of)
        findings = await _link_to_cases(session, findings, product_of)
        findings += await _reported_dose_findings(session, context, period)
    return findings_output(findings, {"dispensations": examined})


async def titration_crosscheck(context: ServiceContext, period: JobPeriod) -> JobOutput:
    protocol = context.reference.titration_protocol
    steps_query = (
        select(TitrationStep.patient_id, Patient.inclusion_date, TitrationStep.date, TitrationStep.daily_thc_mg,
               TitrationStep.daily_cbd_mg, Withdrawal.date.label("withdrawal_date"))
        .join(Patient, Patient.id == TitrationStep.patient_id)
        .outerjoin(Withdrawal, (Withdrawal.patient_id == TitrationStep.patient_id) & (Withdrawal.date <= period.last))
        .where(TitrationStep.date <= period.last)
        .order_by(TitrationStep.patient_id, TitrationStep.date)
    )  # fmt: skip
    findings: list[Finding] = []
    patients = 0
    async with context.database.read_session() as session:
        reactions = await _reactions_by_patient(session, period)
        async for patient_id, rows in _groups(session, steps_query, key=lambda r: r.patient_id):
            patients += 1
            steps = [rules.StepFacts(r.date, r.daily_thc_mg, r.daily_cbd_mg) for r in rows]
            findings += rules.titration_findings(
                patient_id,
                rows[0].inclusion_date,
                steps,
                reactions.get(patient_id, []),
                protocol,
                withdrawal=rows[0].withdrawal_date,
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
