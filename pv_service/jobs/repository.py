"""Named queries of the jobs area: anomalies (stored once under their stable key), runs and their claims."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.clock import utc_now
from pv_service.jobs.schemas import AnomalyView
from pv_service.pagination import Keyset
from pv_service.rules.findings import Finding
from pv_service.storage.models import Anomaly, AnomalyCase, Case, JobRun, Patient

ANOMALIES: Table = Anomaly.__table__  # type: ignore[assignment]
ANOMALY_CASES: Table = AnomalyCase.__table__  # type: ignore[assignment]
CHUNK = 500
NEWEST_ANOMALIES = Keyset((Anomaly.id,), descending=True)
NEWEST_RUNS = Keyset((JobRun.id,), descending=True)


def rounded_detail(value: Any) -> Any:
    """A finding's detail as people read it: computed doses to 6 decimals (10 × 28 × 0.04 is not 11.200000000000001)."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {key: rounded_detail(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded_detail(item) for item in value]
    return value


async def store_findings(session: AsyncSession, findings: Sequence[Finding], run_id: int) -> int:
    """Insert the findings not stored yet; returns how many were new. Existing ones are left as first seen."""
    unique = {f.key: f for f in findings}
    known: dict[str, int] = {}
    keys = list(unique)
    for start in range(0, len(keys), CHUNK):
        rows = await session.execute(
            select(Anomaly.key, Anomaly.id).where(Anomaly.key.in_(keys[start : start + CHUNK]))
        )
        known.update(dict(rows.all()))
    now = utc_now()
    new = [f for key, f in unique.items() if key not in known]
    for start in range(0, len(new), CHUNK):
        batch = new[start : start + CHUNK]
        result = await session.execute(
            insert(ANOMALIES).returning(ANOMALIES.c.id, ANOMALIES.c.key),
            [
                {
                    "key": f.key,
                    "kind": f.kind,
                    "patient_id": f.patient_id,
                    "records": list(f.records),
                    "detail": rounded_detail(f.detail),
                    "first_seen": now,
                    "job_run_id": run_id,
                }
                for f in batch
            ],
        )
        ids = dict((key, anomaly_id) for anomaly_id, key in result)
        links = [{"anomaly_id": ids[f.key], "case_id": case_id} for f in batch for case_id in sorted(set(f.cases))]
        if links:
            await session.execute(insert(ANOMALY_CASES), links)
    return len(new)


async def cases_of(session: AsyncSession, anomaly_ids: list[int]) -> dict[int, list[int]]:
    cases: dict[int, list[int]] = {anomaly_id: [] for anomaly_id in anomaly_ids}
    if anomaly_ids:
        rows = await session.execute(
            select(AnomalyCase.anomaly_id, AnomalyCase.case_id)
            .where(AnomalyCase.anomaly_id.in_(anomaly_ids))
            .order_by(AnomalyCase.case_id)
        )
        for anomaly_id, case_id in rows:
            cases[anomaly_id].append(case_id)
    return cases


def anomaly_view(anomaly: Anomaly, registry_id: str, cases: list[int]) -> AnomalyView:
    return AnomalyView(
        id=anomaly.id,
        kind=anomaly.kind,
        patient=registry_id,
        records=anomaly.records,
        cases=cases,
        detail=anomaly.detail,
        first_seen=anomaly.first_seen,
    )


def anomalies_query(kinds: Sequence[str], registry_id: str | None, since: datetime | None) -> Select[Any]:
    query = select(Anomaly, Patient.registry_id).join(Patient, Patient.id == Anomaly.patient_id)
    if kinds:
        query = query.where(Anomaly.kind.in_(kinds))
    if registry_id is not None:
        query = query.where(Patient.registry_id == registry_id)
    if since is not None:
        query = query.where(Anomaly.first_seen >= since)
    return query


async def findings_for_case(session: AsyncSession, case_id: int) -> list[AnomalyView]:
    rows = list(
        await session.execute(
            select(Anomaly, Patient.registry_id)
            .join(Patient, Patient.id == Anomaly.patient_id)
            .join(AnomalyCase, AnomalyCase.anomaly_id == Anomaly.id)
            .where(AnomalyCase.case_id == case_id)
            .order_by(Anomaly.id)
        )
    )
    cases = await cases_of(session, [a.id for a, _ in rows])
    return [anomaly_view(anomaly, registry_id, cases[anomaly.id]) for anomaly, registry_id in rows]


def runs_query(job: str) -> Select[Any]:
    return select(JobRun).where(JobRun.job == job)


async def latest_runs(session: AsyncSession) -> dict[str, JobRun]:
    latest_ids = select(func.max(JobRun.id)).group_by(JobRun.job)
    return {run.job: run for run in await session.scalars(select(JobRun).where(JobRun.id.in_(latest_ids)))}


async def case_numbers(session: AsyncSession, case_ids: Sequence[int]) -> dict[int, str]:
    """The case numbers of the cases findings name, by id."""
    if not case_ids:
        return {}
    rows = await session.execute(select(Case.id, Case.case_number).where(Case.id.in_(sorted(set(case_ids)))))
    return {row[0]: row[1] for row in rows}
