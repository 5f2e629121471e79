"""SPEC §6, §9: the cross-checks stream the registry one patient at a time, a few thousand rows per fetch;
what they find must be what the rules find on the whole registry read at once, however the patients'
rows lie in the tables and wherever a fetch ends."""

from __future__ import annotations

from collections import defaultdict
from contextlib import aclosing
from datetime import date
from itertools import zip_longest
from typing import Any

import pytest
from conftest import import_records
from sqlalchemy import func, select

from pv_service.clock import utc_now
from pv_service.config import Settings
from pv_service.context import ServiceContext, open_context
from pv_service.demo_data import generate_registry
from pv_service.jobs.catalogue import JOBS_BY_NAME
from pv_service.jobs.periods import latest_complete
from pv_service.jobs.runner import run_job
from pv_service.reference import ReferenceData
from pv_service.registry import repository
from pv_service.rules import crosschecks as rules
from pv_service.rules.findings import Finding
from pv_service.storage.database import Database
from pv_service.storage.models import Anomaly, Dispensation, Patient, Prescription, TitrationStep, Withdrawal

PATIENTS = 30


def interleaved_registry(today: date, settings: Settings, reference: ReferenceData) -> list[dict[str, Any]]:
    """The demo registry with the patients' histories dealt out one record per patient in turn, so that
    consecutive rows of each table belong to different patients (each history keeps its own order)."""
    records = generate_registry(patients=PATIENTS, seed=5, today=today, reference=reference, settings=settings)
    patient_of_prescription: dict[str, str] = {}
    histories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    head = []
    for record in records:
        if record["type"] in ("professional", "patient"):
            head.append(record)
            continue
        if record["type"] == "prescription":
            patient_of_prescription[str(record["id"])] = str(record["registry_id"])
        registry_id = record.get("registry_id") or patient_of_prescription[str(record["prescription_id"])]
        histories[str(registry_id)].append(record)
    dealt = [r for turn in zip_longest(*histories.values()) for r in turn if r is not None]
    return head + dealt


async def whole_registry_findings(database: Database, until: date, context: ServiceContext) -> tuple[set[str], int]:
    """The rules applied to every row read at once and grouped in memory (no case: no reaction, no link)."""
    async with database.read_session() as session:
        supplies = [
            rules.DispensationFacts(*row)
            for row in await session.execute(
                select(Dispensation.id, Dispensation.prescription_id, Dispensation.patient_id, Dispensation.date,
                       Dispensation.quantity, Dispensation.days_supply, Dispensation.pharmacist)
                .where(Dispensation.date <= until)
            )
        ]  # fmt: skip
        prescriptions = {
            row[0]: rules.PrescriptionFacts(*row)
            for row in await session.execute(
                select(Prescription.id, Prescription.patient_id, Prescription.product, Prescription.start_date,
                       Prescription.days, Prescription.secure, Prescription.daily_thc_mg, Prescription.daily_cbd_mg)
            )
        }  # fmt: skip
        steps = (await session.execute(select(TitrationStep).where(TitrationStep.date <= until))).scalars().all()
        inclusions = dict((await session.execute(select(Patient.id, Patient.inclusion_date))).all())
        withdrawals = dict(
            (
                await session.execute(select(Withdrawal.patient_id, Withdrawal.date).where(Withdrawal.date <= until))
            ).all()
        )
    settings = context.settings
    findings: list[Finding] = []
    by_prescription: dict[str, list[rules.DispensationFacts]] = defaultdict(list)
    by_patient: dict[int, list[rules.DispensationFacts]] = defaultdict(list)
    for supply in sorted(supplies, key=lambda s: (s.date, s.id)):
        by_prescription[supply.prescription_id].append(supply)
        by_patient[supply.patient_id].append(supply)
    for prescription_id, dispensed in by_prescription.items():
        prescription = prescriptions[prescription_id]
        product = context.reference.products.get(prescription.product)
        findings += rules.dose_findings(
            prescription,
            dispensed,
            rules.dose_basis(product.content) if product else None,
            quantity_tolerance=settings.quantity_tolerance,
            refill_tolerance=settings.refill_tolerance,
        )
    for dispensed in by_patient.values():
        findings += rules.multiple_pharmacy_findings(dispensed)
    secure: dict[int, list[rules.PrescriptionFacts]] = defaultdict(list)
    for prescription in sorted(prescriptions.values(), key=lambda p: (p.start_date, p.id)):
        if prescription.secure and prescription.start_date <= until:
            secure[prescription.patient_id].append(prescription)
    for patient_prescriptions in secure.values():
        findings += rules.overlapping_prescription_findings(patient_prescriptions)
    patient_steps: dict[int, list[rules.StepFacts]] = defaultdict(list)
    for step in sorted(steps, key=lambda s: s.date):
        patient_steps[step.patient_id].append(rules.StepFacts(step.date, step.daily_thc_mg, step.daily_cbd_mg))
    for patient_id, facts in patient_steps.items():
        findings += rules.titration_findings(
            patient_id,
            inclusions[patient_id],
            facts,
            [],
            context.reference.titration_protocol,
            withdrawal=withdrawals.get(patient_id),
        )
    return {finding.key for finding in findings}, len(supplies)


@pytest.mark.parametrize("batch", [7, repository.STREAM_BATCH])
async def test_streamed_cross_checks_find_what_the_rules_find_on_the_whole_interleaved_registry(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(repository, "STREAM_BATCH", batch)  # 7 rows a fetch: patients cut across fetches
    today = utc_now().astimezone(settings.zone).date()
    async with open_context(settings) as context:
        records = interleaved_registry(today, settings, context.reference)
        assert (await import_records(settings, records)).failed == 0
        period = latest_complete("day", today)
        expected, dispensations = await whole_registry_findings(database, period.last, context)
        counts = {}
        for job in ("dose-crosscheck", "titration-crosscheck"):
            run, created = await run_job(context, JOBS_BY_NAME[job], period)
            assert created and run.status == "succeeded", run.error
            counts[job] = run.counts
    async with database.read_session() as session:
        anomalies = (await session.execute(select(Anomaly.key, Anomaly.kind, Anomaly.patient_id))).all()
    assert {key for key, _, _ in anomalies} == expected
    assert counts["dose-crosscheck"]["dispensations"] == dispensations
    # The data set says something about several patients, in several ways, or the comparison proves little.
    assert len({kind for _, kind, _ in anomalies}) >= 4 and len({patient for _, _, patient in anomalies}) >= 5


async def test_a_stream_closed_early_leaves_its_session_ready_for_the_next_query(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "STREAM_BATCH", 7)  # the next fetch is under way when the caller stops
    today = utc_now().astimezone(settings.zone).date()
    async with open_context(settings) as context:
        assert (await import_records(settings, interleaved_registry(today, settings, context.reference))).failed == 0
    async with database.read_session() as session:
        async with aclosing(repository.prescriptions_by_patient(session, today)) as patients:
            first, _ = await anext(patients)
        following = await session.scalar(select(func.count()).select_from(Patient).where(Patient.id > first))
    assert following == PATIENTS - 1
