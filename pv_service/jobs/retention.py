"""``retention`` (SPEC §6; ANSM seed 002: identifying data kept 2 years after the experimentation ends).

Registry mirror only: once that date has passed, each patient's registry id becomes a random pseudonym,
the birth year a 5-year band, the named doctor and pharmacist are dropped — in the stored case versions
too. Cases are never deleted. With no experimentation end set, nothing changes.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.jobs.periods import JobPeriod
from pv_service.jobs.runner import JobOutput
from pv_service.storage.models import Case, CaseVersion, Patient

RETENTION_YEARS = 2
BIRTH_YEAR_BAND = 5


def retention_date(experimentation_end: date) -> date:
    try:
        return experimentation_end.replace(year=experimentation_end.year + RETENTION_YEARS)
    except ValueError:  # 29 February
        return experimentation_end.replace(year=experimentation_end.year + RETENTION_YEARS, day=28)


def _pseudonymised_body(body: dict[str, Any], pseudonym: str) -> dict[str, Any]:
    patient = dict(body.get("patient") or {})
    patient["registry_id"] = pseudonym
    return {**body, "patient": patient}


async def retention(context: ServiceContext, period: JobPeriod) -> JobOutput:
    end = context.settings.experimentation_end
    due = end is not None and retention_date(end) <= period.last
    patients: list[tuple[int, int | None]] = []
    if due:
        async with context.database.read_session() as session:
            rows = await session.execute(
                select(Patient.id, Patient.birth_year).where(Patient.pseudonymised_at.is_(None))
            )
            patients = [(patient_id, birth_year) for patient_id, birth_year in rows]

    async def write(session: AsyncSession, run_id: int) -> dict[str, int]:
        now = utc_now()
        versions = 0
        for patient_id, birth_year in patients:
            pseudonym = f"PSN-{secrets.token_hex(8).upper()}"
            await session.execute(
                update(Patient)
                .where(Patient.id == patient_id)
                .values(
                    registry_id=pseudonym,
                    birth_year=None,
                    birth_year_band=None if birth_year is None else birth_year - birth_year % BIRTH_YEAR_BAND,
                    city_doctor=None,
                    pharmacist=None,
                    pseudonymised_at=now,
                )
            )
            stored = await session.execute(
                select(CaseVersion).join(Case, Case.id == CaseVersion.case_id).where(Case.patient_id == patient_id)
            )
            for version in stored.scalars():
                version.body = _pseudonymised_body(version.body, pseudonym)
                versions += 1
        return {"patients_pseudonymised": len(patients), "case_versions_pseudonymised": versions}

    return JobOutput(write=write)
