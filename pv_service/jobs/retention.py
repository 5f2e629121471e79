"""``retention`` (SPEC §6; ANSM seed 002: identifying data kept 2 years after the experimentation ends).

Once that date has passed, each patient's registry id becomes a random pseudonym, the birth year a 5-year
band, the named doctor and pharmacist are dropped — and so in every copy (SPEC §15): the stored case
versions, the audit entries about the patient and its records; the idempotency records of its cases,
which replay a whole answer, are removed. ``PV_RETENTION_RECORDS_YEARS`` after a patient's
pseudonymisation, its registry records other than cases (prescriptions, dispensations, titration steps,
consultations, withdrawal) are deleted. Cases are never deleted. With no experimentation end set, nothing
changes.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.jobs.periods import JobPeriod
from pv_service.jobs.runner import JobOutput
from pv_service.storage.models import (
    AuditEntry,
    Case,
    CaseVersion,
    Consultation,
    Dispensation,
    IdempotencyKey,
    Patient,
    Prescription,
    TitrationStep,
    Withdrawal,
)

RETENTION_YEARS = 2
BIRTH_YEAR_BAND = 5


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def retention_date(experimentation_end: date) -> date:
    return _years_after(experimentation_end, RETENTION_YEARS)


# Children before parents: dispensations refer to prescriptions.
REGISTRY_RECORDS = (Dispensation, Prescription, TitrationStep, Consultation, Withdrawal)


async def _delete_pseudonymised_records(session: AsyncSession) -> int:
    """The registry records of pseudonymised patients; their cases stay."""
    old_patients = select(Patient.id).where(Patient.pseudonymised_at.is_not(None))
    deleted = 0
    for model in REGISTRY_RECORDS:
        result = await session.execute(delete(model).where(model.patient_id.in_(old_patients)))
        deleted += result.rowcount or 0
    return deleted


def _pseudonymised_body(body: dict[str, Any], pseudonym: str) -> dict[str, Any]:
    patient = dict(body.get("patient") or {})
    patient["registry_id"] = pseudonym
    return {**body, "patient": patient}


# What identifies a patient in the mirror; retention replaces or drops it wherever a copy stands.
IDENTIFYING_FIELDS = ("registry_id", "birth_year", "city_doctor", "pharmacist")


def _band(birth_year: int | None) -> int | None:
    return None if birth_year is None else birth_year - birth_year % BIRTH_YEAR_BAND


def _pseudonymised_audit(values: dict[str, Any] | None, pseudonym: str) -> dict[str, Any] | None:
    """An audit entry's ``before`` or ``after`` of a patient with its identifying fields replaced."""
    if values is None:
        return None
    replaced = {**values}
    if "registry_id" in replaced:
        replaced["registry_id"] = pseudonym
    if "birth_year" in replaced:
        replaced["birth_year"] = None
        replaced["birth_year_band"] = _band(values["birth_year"])
    for name in ("city_doctor", "pharmacist"):
        if name in replaced:
            replaced[name] = None
    return replaced


async def _pseudonymise_audit(session: AsyncSession, registry_id: str, pseudonym: str) -> int:
    """Audit entries about the patient and its records (labelled ``registry_id`` or ``registry_id/…``)."""
    about = or_(
        AuditEntry.entity_id == registry_id, AuditEntry.entity_id.startswith(registry_id + "/", autoescape=True)
    )
    entries = list(await session.scalars(select(AuditEntry).where(about)))
    for entry in entries:
        entry.entity_id = pseudonym + entry.entity_id[len(registry_id) :]
        if entry.entity == "patient":
            entry.before = _pseudonymised_audit(entry.before, pseudonym)
            entry.after = _pseudonymised_audit(entry.after, pseudonym)
    return len(entries)


async def retention(context: ServiceContext, period: JobPeriod) -> JobOutput:
    end = context.settings.experimentation_end
    due = end is not None and retention_date(end) <= period.last
    # Pseudonymisation happens in the month of the retention date: the records go N years after it.
    records_due = (
        end is not None
        and _years_after(retention_date(end), context.settings.retention_records_years) <= period.last
    )
    patients: list[tuple[int, str, int | None]] = []
    if due:
        async with context.database.read_session() as session:
            rows = await session.execute(
                select(Patient.id, Patient.registry_id, Patient.birth_year).where(Patient.pseudonymised_at.is_(None))
            )
            patients = [(patient_id, registry_id, birth_year) for patient_id, registry_id, birth_year in rows]

    async def write(session: AsyncSession, run_id: int) -> dict[str, int]:
        now = utc_now()
        counts = dict.fromkeys(
            ("case_versions_pseudonymised", "idempotency_records_removed", "audit_entries_pseudonymised"), 0
        )
        for patient_id, registry_id, birth_year in patients:
            pseudonym = f"PSN-{secrets.token_hex(8).upper()}"
            await session.execute(
                update(Patient)
                .where(Patient.id == patient_id)
                .values(
                    registry_id=pseudonym,
                    birth_year=None,
                    birth_year_band=_band(birth_year),
                    city_doctor=None,
                    pharmacist=None,
                    pseudonymised_at=now,
                )
            )
            of_patient = select(Case.id).where(Case.patient_id == patient_id)
            stored = await session.scalars(select(CaseVersion).where(CaseVersion.case_id.in_(of_patient)))
            for version in stored:
                version.body = _pseudonymised_body(version.body, pseudonym)
                counts["case_versions_pseudonymised"] += 1
            # A stored answer replays a whole case, registry id included: it goes (replays last a day).
            removed = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.case_id.in_(of_patient)))
            counts["idempotency_records_removed"] += removed.rowcount or 0
            counts["audit_entries_pseudonymised"] += await _pseudonymise_audit(session, registry_id, pseudonym)
        counts["registry_records_deleted"] = await _delete_pseudonymised_records(session) if records_due else 0
        return {"patients_pseudonymised": len(patients), **counts}

    return JobOutput(write=write)
