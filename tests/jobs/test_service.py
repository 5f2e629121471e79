"""SPEC §6, §14: jobs through the API and the runner — claims, retries, no partial output, anomalies."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from conftest import (
    OTHER_PHARMACIST,
    PRESCRIBER,
    PV_STAFF,
    Tokens,
    date_receipt_back,
    import_records,
    registry_lines,
)
from litestar.testing import AsyncTestClient
from report_bodies import reaction, report
from sqlalchemy import func, select, text, update

from pv_service.clock import utc_now
from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.jobs.periods import parse_period
from pv_service.jobs.runner import ClaimHeld, JobDefinition, JobOutput, run_job
from pv_service.rules.findings import Finding
from pv_service.storage.database import Database
from pv_service.storage.models import Anomaly, Case, JobClaim, JobRun

YESTERDAY = (utc_now().date() - timedelta(days=2)).isoformat()


def troubled_registry() -> list[dict[str, Any]]:
    """Records each cross-check has something to say about, on top of the small registry."""
    return [
        {"type": "prescription", "id": "RX-2", "registry_id": "RC-000123", "prescriber": PRESCRIBER,
         "product": "OIL-T10", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.25, "start_date": "2022-06-01", "days": 28},
        {"type": "dispensation", "id": "DS-2", "prescription_id": "RX-2", "pharmacist": "10000000017",
         "date": "2022-06-01", "quantity": 14.0, "days_supply": 14},
        {"type": "dispensation", "id": "DS-3", "prescription_id": "RX-2", "pharmacist": "10000000017",
         "date": "2022-06-05", "quantity": 14.0, "days_supply": 14},
        {"type": "titration_step", "registry_id": "RC-000123", "date": "2022-05-05", "daily_thc_mg": 6.0,
         "daily_cbd_mg": 0.3},
    ]  # fmt: skip


async def post_run(client: AsyncTestClient, registry: Tokens, job: str, **body: Any) -> Any:
    return await client.post(f"/api/v1/jobs/{job}/runs", json=body, headers=registry.headers(PV_STAFF))


def context_for(settings: Settings) -> ServiceContext:
    return ServiceContext.from_settings(settings)


# --- runs through the API ------------------------------------------------------------------------------


async def test_dose_crosscheck_stores_findings_once(
    client: AsyncTestClient, registry: Tokens, settings: Settings
) -> None:
    assert (await import_records(settings, troubled_registry())).failed == 0
    first = await post_run(client, registry, "dose-crosscheck", period=YESTERDAY)
    assert first.status_code == 201, first.text
    run = first.json()
    assert (run["status"], run["period"], run["job"]) == ("succeeded", YESTERDAY, "dose-crosscheck")
    assert run["counts"]["new_anomalies"] >= 2 and run["error"] is None
    kinds = {
        a["kind"] for a in (await client.get("/api/v1/anomalies", headers=registry.headers(PV_STAFF))).json()["items"]
    }
    assert {"early_refill", "quantity_above_prescribed"} <= kinds
    again = await post_run(client, registry, "dose-crosscheck", period=YESTERDAY)
    assert again.status_code == 200 and again.json()["id"] == run["id"]
    assert again.json()["already_done"] is True and run["already_done"] is False
    forced = await post_run(client, registry, "dose-crosscheck", period=YESTERDAY, force=True)
    assert forced.status_code == 201 and forced.json()["id"] != run["id"]
    assert forced.json()["already_done"] is False
    assert forced.json()["counts"]["new_anomalies"] == 0
    runs = (await client.get("/api/v1/jobs/dose-crosscheck/runs", headers=registry.headers(PV_STAFF))).json()["items"]
    assert [r["id"] for r in runs] == [forced.json()["id"], run["id"]]


async def test_titration_crosscheck_finds_protocol_breaks(
    client: AsyncTestClient, registry: Tokens, settings: Settings
) -> None:
    await import_records(settings, troubled_registry())
    response = await post_run(client, registry, "titration-crosscheck", period=YESTERDAY)
    assert response.status_code == 201 and response.json()["status"] == "succeeded", response.text
    items = (
        await client.get("/api/v1/anomalies?kind=titration_increment_too_large", headers=registry.headers(PV_STAFF))
    ).json()["items"]
    assert [a["patient"] for a in items] == ["RC-000123"]


async def test_findings_about_a_case_are_shown_with_it(
    client: AsyncTestClient, registry: Tokens, settings: Settings
) -> None:
    body = report(
        suspect_product={"code": "OIL-T10", "daily_thc_mg": 20.0}, reactions=[reaction(onset_date="2022-05-20")]
    )
    created = await client.post("/api/v1/reports", json=body, headers=registry.headers(PRESCRIBER))
    assert created.status_code == 201
    await post_run(client, registry, "dose-crosscheck", period=YESTERDAY)
    case = (await client.get(f"/api/v1/reports/{created.json()['id']}", headers=registry.headers(PV_STAFF))).json()
    assert "reported_dose_mismatch" in {f["kind"] for f in case["findings"]}


def narcotic_supply_registry() -> list[dict[str, Any]]:
    """On top of the small registry (RX-1: OIL-T10, secure, 2022-05-03 for 28 days; DS-1 by the usual
    pharmacist on 2022-05-03 for 28 days): a second secure prescription from 2022-05-20, first presented
    on 2022-05-25 (5 days late, 23 days left) at another pharmacy, for 28 days."""
    return [
        {"type": "prescription", "id": "RX-3", "registry_id": "RC-000123", "prescriber": PRESCRIBER,
         "product": "OIL-T10", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.25, "start_date": "2022-05-20", "days": 28},
        {"type": "dispensation", "id": "DS-4", "prescription_id": "RX-3", "pharmacist": OTHER_PHARMACIST,
         "date": "2022-05-25", "quantity": 14.0, "days_supply": 28},
    ]  # fmt: skip


async def test_dose_crosscheck_finds_late_overlapping_and_multiple_pharmacy_supplies_on_the_case(
    client: AsyncTestClient, registry: Tokens, settings: Settings, database: Database
) -> None:
    report_ = await import_records(settings, narcotic_supply_registry())
    assert report_.failed == 0, report_.errors  # 28 days supplied when 23 remain: mirrored, then flagged
    created = await client.post("/api/v1/reports", json=report(), headers=registry.headers(PRESCRIBER))
    assert created.status_code == 201, created.text
    run = await post_run(client, registry, "dose-crosscheck", period=YESTERDAY)
    assert run.status_code == 201 and run.json()["status"] == "succeeded", run.text
    items = (await client.get("/api/v1/anomalies", headers=registry.headers(PV_STAFF))).json()["items"]
    narcotic = {"late_presentation", "overlapping_prescriptions", "multiple_pharmacies", "supply_outside_prescription"}
    found = sorted((a["kind"], a["records"], a["cases"]) for a in items if a["kind"] in narcotic)
    case_id = created.json()["id"]
    assert found == [
        ("late_presentation", ["RX-3", "DS-4"], [case_id]),
        ("multiple_pharmacies", ["DS-1", "DS-4"], [case_id]),
        ("overlapping_prescriptions", ["RX-1", "RX-3"], [case_id]),
        ("supply_outside_prescription", ["RX-3", "DS-4"], [case_id]),
    ]
    forced = await post_run(client, registry, "dose-crosscheck", period=YESTERDAY, force=True)
    assert forced.json()["counts"]["new_anomalies"] == 0


async def test_titration_crosscheck_takes_the_withdrawal_as_a_dechallenge_within_7_days(
    client: AsyncTestClient, registry: Tokens, settings: Settings
) -> None:
    withdrawal = {"type": "withdrawal", "registry_id": "RC-000123", "date": "2022-06-10", "reason": "fin"}
    assert (await import_records(settings, [withdrawal])).failed == 0
    ids = []
    for end in ("2022-06-17", "2022-06-18"):  # 7 and 8 days after the withdrawal
        body = report(reactions=[reaction(onset_date="2022-06-01", end_date=end, outcome="recovered")])
        created = await client.post("/api/v1/reports", json=body, headers=registry.headers(PRESCRIBER))
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    run = await post_run(client, registry, "titration-crosscheck", period=YESTERDAY)
    assert run.status_code == 201 and run.json()["status"] == "succeeded", run.text
    items = (
        await client.get("/api/v1/anomalies?kind=positive_dechallenge", headers=registry.headers(PV_STAFF))
    ).json()["items"]
    assert [(a["records"], a["cases"]) for a in items] == [(["withdrawal:2022-06-10"], [ids[0]])]


@pytest.mark.parametrize(
    ("job", "period", "status"),
    [
        ("dose-crosscheck", "2026-13-01", 400),
        ("weekly-signal-digest", "2026-W7", 400),
        ("retention", "2026-11-22", 400),
        ("dose-crosscheck", (date.today() + timedelta(days=3)).isoformat(), 422),
        ("no-such-job", "2026-11-21", 404),
    ],
)
async def test_bad_run_requests(client: AsyncTestClient, registry: Tokens, job: str, period: str, status: int) -> None:
    response = await post_run(client, registry, job, period=period)
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["errors"][0]["code"] == "period_incomplete"


async def test_jobs_are_listed_with_next_and_last_runs(client: AsyncTestClient, registry: Tokens) -> None:
    await post_run(client, registry, "follow-up-reminders", period=YESTERDAY)
    jobs = {
        j["name"]: j for j in (await client.get("/api/v1/jobs", headers=registry.headers(PV_STAFF))).json()["items"]
    }
    assert set(jobs) == {
        "dose-crosscheck",
        "titration-crosscheck",
        "follow-up-reminders",
        "weekly-signal-digest",
        "retention",
    }
    assert jobs["follow-up-reminders"]["last_run"]["status"] == "succeeded"
    assert jobs["dose-crosscheck"]["last_run"] is None
    assert all(j["next_run_at"] for j in jobs.values())


async def test_jobs_are_for_pv_staff(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post("/api/v1/jobs/dose-crosscheck/runs", json={}, headers=registry.headers(PRESCRIBER))
    assert response.status_code == 403
    assert (await client.get("/api/v1/anomalies", headers=registry.headers(PRESCRIBER))).status_code == 403


async def test_reminders_find_missed_consultations_and_overdue_triage(
    client: AsyncTestClient, registry: Tokens, database: Database
) -> None:
    created = (await client.post("/api/v1/reports", json=report(), headers=registry.headers(PRESCRIBER))).json()
    long_ago = utc_now() - timedelta(days=100)
    await date_receipt_back(database, [created["id"]], long_ago, Settings().zone)
    async with database.session() as session, session.begin():
        overdue = {"triage_due": long_ago + timedelta(days=7), "forward_due": long_ago + timedelta(days=90)}
        await session.execute(update(Case).where(Case.id == created["id"]).values(**overdue))
    run = (await post_run(client, registry, "follow-up-reminders", period=YESTERDAY)).json()
    assert run["status"] == "succeeded" and run["counts"]["triage_overdue"] == 1
    found = (await client.get("/api/v1/anomalies?patient=RC-000123", headers=registry.headers(PV_STAFF))).json()[
        "items"
    ]
    missed = sorted(a["detail"]["month"] for a in found if a["kind"] == "consultation_missed")
    assert missed == [3, 6, 12, 18, 24, 30]  # M1 was recorded
    assert any(a["kind"] == "triage_overdue" and a["cases"] == [created["id"]] for a in found)


async def test_retention_pseudonymises_only_after_two_years(
    registry: Tokens, settings: Settings, database: Database
) -> None:
    from pv_service.jobs.catalogue import JOBS_BY_NAME
    from pv_service.storage.models import CaseVersion, Patient

    retention = JOBS_BY_NAME["retention"]
    context = context_for(replace(settings, experimentation_end=date(2024, 6, 30)))
    try:
        async with AsyncTestClient(
            app=__import__("pv_service.app", fromlist=["create_app"]).create_app(context.settings)
        ) as c:
            assert (
                await c.post("/api/v1/reports", json=report(), headers=registry.headers(PRESCRIBER))
            ).status_code == 201
        early, _ = await run_job(context, retention, parse_period("month", "2026-05"))
        assert early.counts["patients_pseudonymised"] == 0 and early.counts["case_versions_pseudonymised"] == 0
        done, _ = await run_job(context, retention, parse_period("month", "2026-06"))
        assert done.counts["patients_pseudonymised"] == 2 and done.counts["case_versions_pseudonymised"] == 1
    finally:
        await context.database.dispose()
    async with database.read_session() as session:
        patients = list(await session.scalars(select(Patient)))
        bodies = list(await session.scalars(select(CaseVersion.body)))
    assert all(p.registry_id.startswith("PSN-") and p.birth_year is None for p in patients)
    assert {p.birth_year_band for p in patients} == {1970, 1985}
    assert all(p.city_doctor is None and p.pharmacist is None for p in patients)
    assert bodies[0]["patient"]["registry_id"].startswith("PSN-")
    async with database.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(Case)) == 1  # cases are never deleted


async def test_registry_records_are_deleted_ten_years_after_pseudonymisation_and_cases_stay(
    registry: Tokens, settings: Settings, database: Database
) -> None:
    from pv_service.app import create_app
    from pv_service.jobs.catalogue import JOBS_BY_NAME
    from pv_service.storage.models import Consultation, Dispensation, Patient, Prescription, TitrationStep

    retention = JOBS_BY_NAME["retention"]
    context = context_for(replace(settings, experimentation_end=date(2024, 6, 30)))
    records = (Prescription, Dispensation, TitrationStep, Consultation)

    async def registry_rows() -> int:
        async with database.read_session() as session:
            return sum([await session.scalar(select(func.count()).select_from(m)) or 0 for m in records])

    try:
        async with AsyncTestClient(app=create_app(context.settings)) as c:
            assert (
                await c.post("/api/v1/reports", json=report(), headers=registry.headers(PRESCRIBER))
            ).status_code == 201
        pseudonymised, _ = await run_job(context, retention, parse_period("month", "2026-06"))
        assert pseudonymised.counts["registry_records_deleted"] == 0
        before = await registry_rows()
        nine_years, _ = await run_job(context, retention, parse_period("month", "2036-05"))
        assert nine_years.counts["registry_records_deleted"] == 0 and await registry_rows() == before > 0
        ten_years, _ = await run_job(context, retention, parse_period("month", "2036-06"))
        assert ten_years.status == "succeeded", ten_years.error
        assert ten_years.counts["registry_records_deleted"] == before
    finally:
        await context.database.dispose()
    assert await registry_rows() == 0
    async with database.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(Case)) == 1
        assert await session.scalar(select(func.count()).select_from(Patient)) == 2  # pseudonymised, kept


async def test_after_retention_no_table_holds_an_identifying_value_of_a_retained_patient(
    registry: Tokens, settings: Settings, database: Database
) -> None:
    from pv_service.app import create_app
    from pv_service.jobs.catalogue import JOBS_BY_NAME
    from pv_service.storage.models import Base

    lines = registry_lines()
    patient = next(line for line in lines if line["type"] == "patient")
    # An update through the import leaves an audit entry with the identifying fields before and after.
    corrected = {**patient, "birth_year": patient["birth_year"] + 1}
    assert (await import_records(settings, [corrected])).failed == 0
    context = context_for(replace(settings, experimentation_end=date(2024, 6, 30)))
    try:
        async with AsyncTestClient(app=create_app(context.settings)) as c:
            headers = {**registry.headers(PRESCRIBER), "Idempotency-Key": "once"}
            assert (await c.post("/api/v1/reports", json=report(), headers=headers)).status_code == 201
        done, _ = await run_job(context, JOBS_BY_NAME["retention"], parse_period("month", "2026-06"))
    finally:
        await context.database.dispose()
    assert done.status == "succeeded", done.error
    assert done.counts["idempotency_records_removed"] == 1
    assert done.counts["audit_entries_pseudonymised"] >= 1
    identifying = {line["registry_id"] for line in lines if line["type"] == "patient"}
    years = {f'"birth_year": {patient["birth_year"]}', f'"birth_year": {corrected["birth_year"]}'}
    async with database.read_session() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                text = json.dumps([str(value) if not isinstance(value, dict | list) else value for value in row])
                assert not any(value in text for value in identifying), (table.name, text)
                assert not any(year in text for year in years), (table.name, text)


# --- the runner: claims, failures, retries --------------------------------------------------------------


def failing_job(writes_before_failing: list[Finding]) -> JobDefinition:
    """A job whose output is written partly, then fails: the transaction must leave nothing."""

    async def compute(context: ServiceContext, period: Any) -> JobOutput:
        async def write(session: Any, run_id: int) -> dict[str, int]:
            from pv_service.jobs.repository import store_findings

            await store_findings(session, writes_before_failing, run_id)
            raise RuntimeError("disk full while writing")

        return JobOutput(write=write)

    return JobDefinition("failing", "day", {"hour": 4}, "fails on purpose", compute)


async def test_a_failed_run_leaves_nothing_behind_and_is_retried(
    registry: Tokens, settings: Settings, database: Database
) -> None:
    async with database.read_session() as session:
        patient_id = await session.scalar(select(func.min(Case.patient_id)).select_from(Case)) or 1
    finding = Finding("early_refill", patient_id, ("DS-1",), (), {"note": "test"})
    context = context_for(replace(settings, job_max_attempts=2))
    definition, period = failing_job([finding]), parse_period("day", YESTERDAY)
    try:
        run, created = await run_job(context, definition, period, trigger="schedule")
        assert created and run.status == "failed" and "disk full" in (run.error or "")
        async with database.read_session() as session:
            assert await session.scalar(select(func.count()).select_from(Anomaly)) == 0
        retried, created_again = await run_job(context, definition, period, trigger="schedule")
        assert created_again and retried.id != run.id
        settled, created_third = await run_job(context, definition, period, trigger="schedule")
        assert not created_third and settled.id == retried.id  # at most job_max_attempts automatic tries
        on_demand, created_on_demand = await run_job(context, definition, period, trigger="api")
        assert created_on_demand and on_demand.status == "failed"
    finally:
        await context.database.dispose()


def job_failing_with(error: Any) -> JobDefinition:
    async def compute(context: ServiceContext, period: Any) -> JobOutput:
        async def write(session: Any, run_id: int) -> dict[str, int]:
            await error(session)
            return {}

        return JobOutput(write=write)

    return JobDefinition("failing", "day", {"hour": 4}, "fails on purpose", compute)


IDENTIFYING = ("1 70 05 44 109 123 70", "06 12 34 56 78", "jean.dupont@example.fr")


async def _raise_with_identifiers(session: Any) -> None:
    raise ValueError(f"patient {IDENTIFYING[0]}, tél {IDENTIFYING[1]}")


async def _statement_with_identifiers(session: Any) -> None:
    await session.execute(text("INSERT INTO no_such_table (contact) VALUES (:contact)"), {"contact": IDENTIFYING[2]})


@pytest.mark.parametrize("error", [_raise_with_identifiers, _statement_with_identifiers])
async def test_a_failed_job_records_and_logs_its_error_without_any_identifying_value(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture, error: Any
) -> None:
    context = context_for(settings)
    try:
        run, _ = await run_job(context, job_failing_with(error), parse_period("day", YESTERDAY))
    finally:
        await context.database.dispose()
    assert run.status == "failed" and run.error
    logged = " ".join(record.getMessage() for record in caplog.records)
    for value in IDENTIFYING:
        assert value not in run.error and value not in logged, run.error


async def test_a_running_claim_is_respected_until_its_lease_runs_out(settings: Settings, database: Database) -> None:
    from pv_service.jobs.catalogue import JOBS_BY_NAME

    definition, period = JOBS_BY_NAME["follow-up-reminders"], parse_period("day", YESTERDAY)
    context = context_for(replace(settings, job_lease_seconds=60))
    try:
        async with database.session() as session, session.begin():
            stale = JobRun(job=definition.name, period=period.key, status="running", trigger="schedule",
                           instance="gone:1", started_at=utc_now(), finished_at=None, counts={},
                           error=None)  # fmt: skip
            session.add(stale)
            await session.flush()
            session.add(JobClaim(job=definition.name, period=period.key, status="running", run_id=stale.id,
                                 heartbeat_at=utc_now(), attempts=1))  # fmt: skip
        with pytest.raises(ClaimHeld):
            await run_job(context, definition, period)
        async with database.session() as session, session.begin():
            await session.execute(update(JobClaim).values(heartbeat_at=utc_now() - timedelta(seconds=61)))
        taken, created = await run_job(context, definition, period)
        assert created and taken.status == "succeeded"
        async with database.read_session() as session:
            old = await session.get(JobRun, stale.id)
        assert old is not None and old.status == "failed" and "lease expired" in (old.error or "")
    finally:
        await context.database.dispose()


async def test_two_instances_produce_one_digest_for_a_week(
    settings: Settings, registry: Tokens, database: Database
) -> None:
    from pv_service.app import create_app

    week = (await _last_week()).key
    apps = [create_app(settings), create_app(settings)]
    async with AsyncTestClient(app=apps[0]) as one, AsyncTestClient(app=apps[1]) as two:
        url, headers = "/api/v1/jobs/weekly-signal-digest/runs", registry.headers(PV_STAFF)
        responses = await asyncio.gather(
            *(c.post(url, json={"period": week}, headers=headers) for c in (one, two, one, two))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201, 409}
    async with database.read_session() as session:
        from pv_service.storage.models import Digest

        assert await session.scalar(select(func.count()).select_from(Digest)) == 1
        succeeded = await session.scalar(
            select(func.count())
            .select_from(JobRun)
            .where(JobRun.job == "weekly-signal-digest", JobRun.status == "succeeded")
        )
    assert succeeded == 1


async def _last_week() -> Any:
    from pv_service.jobs.periods import latest_complete

    return latest_complete("week", utc_now().date())


async def test_scheduler_catches_up_missed_periods_at_start(settings: Settings, database: Database) -> None:
    from pv_service.app import create_app
    from pv_service.jobs.scheduling import FIRST_START
    from pv_service.storage.models import ServiceMarker

    async with database.session() as session, session.begin():
        session.add(ServiceMarker(name=FIRST_START, at=utc_now() - timedelta(days=40)))
    async with AsyncTestClient(app=create_app(replace(settings, scheduler_enabled=True))) as client:
        assert (await client.get("/health")).json()["scheduler"] == "running"
        for _ in range(100):
            async with database.read_session() as session:
                done = await session.scalar(
                    select(func.count())
                    .select_from(JobRun)
                    .where(JobRun.trigger == "catch-up", JobRun.status != "running")
                )
            if done == 5:
                break
            await asyncio.sleep(0.2)
    assert done == 5


async def test_no_catch_up_before_the_schedulers_first_start(settings: Settings, database: Database) -> None:
    from pv_service.app import create_app

    async with AsyncTestClient(app=create_app(replace(settings, scheduler_enabled=True))) as client:
        assert (await client.get("/health")).status_code == 200
        await asyncio.sleep(1.0)
    async with database.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(JobRun)) == 0


@pytest.mark.parametrize("period", ["9999-W52", "0001-W01", "1999-W52"])
async def test_a_digest_period_outside_the_calendar_is_400_and_runs_nothing(
    client: AsyncTestClient, registry: Tokens, database: Database, period: str
) -> None:
    response = await post_run(client, registry, "weekly-signal-digest", period=period)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "period"
    async with database.read_session() as session:
        assert (await session.scalar(select(func.count()).select_from(JobRun))) == 0


async def test_a_retention_month_outside_the_calendar_is_400(client: AsyncTestClient, registry: Tokens) -> None:
    assert (await post_run(client, registry, "retention", period="9999-12")).status_code == 400


async def test_a_digest_or_anomalies_outside_the_calendar_are_400(client: AsyncTestClient, registry: Tokens) -> None:
    staff = registry.headers(PV_STAFF)
    assert (await client.get("/api/v1/digests/9999-W52", headers=staff)).status_code == 400
    since = await client.get("/api/v1/anomalies", params={"since": "0001-01-01"}, headers=staff)
    assert since.status_code == 400, since.text
    assert since.json()["errors"][0]["field"] == "since"


def test_a_finding_detail_keeps_computed_doses_readable() -> None:
    from pv_service.jobs.repository import rounded_detail

    assert rounded_detail({"dispensed": 10 * 28 * 0.04, "steps": [0.1 + 0.2], "label": "x", "days": 28}) == {
        "dispensed": 11.2,
        "steps": [0.3],
        "label": "x",
        "days": 28,
    }
