"""SPEC §6, §14: cron times in Europe/Paris that never fall in the daylight-saving hour, across a year."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.jobs.catalogue import JOBS
from pv_service.jobs.periods import latest_complete, parse_period, period_containing
from pv_service.jobs.scheduling import cron_trigger

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
