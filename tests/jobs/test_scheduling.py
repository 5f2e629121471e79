"""SPEC §6, §14: cron times in Europe/Paris that never fall in the daylight-saving hour, across a year; a
period held by another instance is tried again once its lease would have expired."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from pv_service.clock import utc_now
from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.jobs.catalogue import JOBS, JOBS_BY_NAME
from pv_service.jobs.periods import latest_complete, parse_period, period_containing
from pv_service.jobs.runner import INSTANCE
from pv_service.jobs.scheduling import FIRST_START, RunningScheduler, cron_trigger
from pv_service.storage.database import Database
from pv_service.storage.models import JobClaim, JobRun, ServiceMarker

PARIS = ZoneInfo("Europe/Paris")


def _context() -> ServiceContext:
    return ServiceContext(settings=Settings(database_url="sqlite+aiosqlite://"), database=None, reference=None)  # type: ignore[arg-type]


def _fire_times(name: str, start: datetime, end: datetime) -> list[datetime]:
    definition = next(j for j in JOBS if j.name == name)
    trigger = cron_trigger(definition, _context())
    times, previous, now = [], None, start
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or fire >= end:
            return times
        times.append(fire)
        previous, now = fire, fire + timedelta(seconds=1)


@pytest.mark.parametrize("job", [j.name for j in JOBS])
def test_no_job_fires_between_two_and_three_in_paris_all_year(job: str) -> None:
    fires = _fire_times(job, datetime(2026, 1, 1, tzinfo=PARIS), datetime(2027, 1, 1, tzinfo=PARIS))
    assert fires
    assert all(not (2 <= f.astimezone(PARIS).hour < 3) for f in fires)


@pytest.mark.parametrize("job", ["dose-crosscheck", "titration-crosscheck", "follow-up-reminders"])
def test_daily_jobs_fire_exactly_once_each_day_across_both_dst_changes(job: str) -> None:
    fires = _fire_times(job, datetime(2026, 1, 1, tzinfo=PARIS), datetime(2027, 1, 1, tzinfo=PARIS))
    days = [f.astimezone(PARIS).date() for f in fires]
    assert len(days) == len(set(days)) == 365
    for dst_day in (date(2026, 3, 29), date(2026, 10, 25)):
        assert dst_day in days


def test_weekly_digest_fires_every_monday_at_six_paris_time() -> None:
    fires = _fire_times("weekly-signal-digest", datetime(2026, 1, 1, tzinfo=PARIS), datetime(2027, 1, 1, tzinfo=PARIS))
    local = [f.astimezone(PARIS) for f in fires]
    assert len(local) == 52
    assert all(f.weekday() == 0 and (f.hour, f.minute) == (6, 0) for f in local)
    # The wall-clock time stays 06:00 while the UTC offset changes with daylight saving.
    assert {f.utcoffset() for f in local} == {timedelta(hours=1), timedelta(hours=2)}


def test_retention_fires_monthly() -> None:
    fires = _fire_times("retention", datetime(2026, 1, 1, tzinfo=PARIS), datetime(2027, 1, 1, tzinfo=PARIS))
    assert [f.astimezone(PARIS).month for f in fires] == list(range(1, 13))


def test_periods_parse_and_the_latest_complete_one() -> None:
    assert parse_period("week", "2026-W47").first == date(2026, 11, 16)
    assert parse_period("week", "2026-W47").last == date(2026, 11, 22)
    assert parse_period("month", "2024-02").last == date(2024, 2, 29)
    assert parse_period("day", "2026-11-21").key == "2026-11-21"
    for kind, text in (("week", "2026-W7"), ("week", "2026-W54"), ("week", "2026-47"), ("month", "2026-13"),
                       ("day", "2026-02-30"), ("day", "21/11/2026")):  # fmt: skip
        with pytest.raises(ValueError):
            parse_period(kind, text)  # type: ignore[arg-type]
    assert latest_complete("day", date(2026, 11, 22)).key == "2026-11-21"
    assert latest_complete("week", date(2026, 11, 22)).key == "2026-W46"
    assert latest_complete("week", date(2026, 11, 23)).key == "2026-W47"
    assert latest_complete("month", date(2026, 1, 5)).key == "2025-12"
    assert period_containing("week", date(2027, 1, 1)).key == "2026-W53"


OTHER_INSTANCE = "other-host:4242:0a1b2c"
HELD = "is running on another instance"


def _times_held(caplog: pytest.LogCaptureFixture) -> int:
    return sum(HELD in record.getMessage() for record in caplog.records)


async def test_a_period_held_by_an_instance_that_falls_silent_is_taken_over_after_its_lease(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pv_service.jobs")
    context = ServiceContext.from_settings(replace(settings, scheduler_enabled=True, job_lease_seconds=1))
    digest = JOBS_BY_NAME["weekly-signal-digest"]
    week = latest_complete("week", utc_now().astimezone(settings.zone).date()).key
    claim_key = (JobClaim.job == digest.name) & (JobClaim.period == week)
    async with database.session() as session, session.begin():
        # A deployment running for months, and another instance in the middle of the week's digest.
        session.add(ServiceMarker(name=FIRST_START, at=utc_now() - timedelta(days=90)))
        held = JobRun(job=digest.name, period=week, status="running", trigger="schedule", instance=OTHER_INSTANCE,
                      started_at=utc_now(), finished_at=None, counts={}, error=None)  # fmt: skip
        session.add(held)
        await session.flush()
        session.add(
            JobClaim(job=digest.name, period=week, status="running", run_id=held.id, heartbeat_at=utc_now(), attempts=1)
        )
    running = RunningScheduler(context)
    running.start()
    try:
        # The other instance stays alive (heartbeats) until this one has met its claim at start and once more.
        deadline = time.monotonic() + 30
        while _times_held(caplog) < 2:
            assert time.monotonic() < deadline, "the held period was not tried again within 30 s"
            async with database.session() as session, session.begin():
                await session.execute(update(JobClaim).where(claim_key).values(heartbeat_at=utc_now()))
            await asyncio.sleep(0.2)
        silent_since = utc_now()
        while True:
            async with database.read_session() as session:
                status = await session.scalar(select(JobClaim.status).where(claim_key))
            if status == "succeeded":
                break
            assert time.monotonic() < deadline, f"the period was not taken over within 30 s (claim {status})"
            await asyncio.sleep(0.2)
    finally:
        await running.stop()
        await context.close()
    async with database.read_session() as session:
        runs = list(await session.scalars(select(JobRun).where(JobRun.job == digest.name).order_by(JobRun.id)))
    assert [(r.instance, r.period, r.status, r.error) for r in runs] == [
        (OTHER_INSTANCE, week, "failed", "lease expired; taken over"),
        (INSTANCE, week, "succeeded", None),
    ]
    assert runs[1].started_at > silent_since, "taken over while the other instance was still alive"
