"""Cross-check findings as stored anomalies: each once under its stable key, linked to its cases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import msgspec
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.jobs.runner import JobOutput
from pv_service.pagination import Page, decode_cursor, encode_cursor
from pv_service.rules.crosschecks import Finding
from pv_service.storage.models import Anomaly, AnomalyCase, Patient

ANOMALIES: Table = Anomaly.__table__  # type: ignore[assignment]
ANOMALY_CASES: Table = AnomalyCase.__table__  # type: ignore[assignment]
CHUNK = 500


class AnomalyView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: str
    patient: str
    records: list[str]
    cases: list[int]
    detail: dict[str, Any]
    first_seen: datetime


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
                    "detail": f.detail,
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


def findings_output(findings: list[Finding], counted: dict[str, int]) -> JobOutput:
    """A job's output made of findings: stored in the run's closing transaction, counted in its record."""

    async def write(session: AsyncSession, run_id: int) -> dict[str, int]:
        return {**counted, "findings": len(findings), "new_anomalies": await store_findings(session, findings, run_id)}

    return JobOutput(write=write)


async def _cases_of(session: AsyncSession, anomaly_ids: list[int]) -> dict[int, list[int]]:
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


def _view(anomaly: Anomaly, registry_id: str, cases: list[int]) -> AnomalyView:
    return AnomalyView(
        id=anomaly.id,
        kind=anomaly.kind,
        patient=registry_id,
        records=anomaly.records,
        cases=cases,
        detail=anomaly.detail,
        first_seen=anomaly.first_seen,
    )


async def list_anomalies(
    context: ServiceContext,
    *,
    kinds: Sequence[str],
    patient: str | None,
    since: date | None,
    cursor: str | None,
    limit: int,
) -> Page[AnomalyView]:
    """Newest first."""
    query = select(Anomaly, Patient.registry_id).join(Patient, Patient.id == Anomaly.patient_id)
    if kinds:
        query = query.where(Anomaly.kind.in_(kinds))
    if patient is not None:
        query = query.where(Patient.registry_id == patient)
    if since is not None:
        start = datetime.combine(since, time(0), tzinfo=context.settings.zone).astimezone(UTC)
        query = query.where(Anomaly.first_seen >= start)
    if cursor:
        (before,) = decode_cursor(cursor, (int,))
        query = query.where(Anomaly.id < before)
    async with context.database.read_session() as session:
        rows = list(await session.execute(query.order_by(Anomaly.id.desc()).limit(limit + 1)))
        page = rows[:limit]
        cases = await _cases_of(session, [a.id for a, _ in page])
    items = [_view(anomaly, registry_id, cases[anomaly.id]) for anomaly, registry_id in page]
    return Page(items=items, next_cursor=encode_cursor([items[-1].id]) if len(rows) > limit else None)


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
    cases = await _cases_of(session, [a.id for a, _ in rows])
    return [_view(anomaly, registry_id, cases[anomaly.id]) for anomaly, registry_id in rows]
