"""The five scheduled jobs of SPEC §6, with their cron times in Europe/Paris.

No cron time falls between 02:00 and 03:00 Paris: APScheduler 3.11 has open bugs at daylight-saving
changes (agronholm/apscheduler#1021, #1036), and that hour is the one skipped or repeated.
"""

from __future__ import annotations

from pv_service.digests.service import weekly_signal_digest
from pv_service.jobs.crosschecks import dose_crosscheck, titration_crosscheck
from pv_service.jobs.reminders import follow_up_reminders
from pv_service.jobs.retention import retention
from pv_service.jobs.runner import JobDefinition

JOBS: tuple[JobDefinition, ...] = (
    JobDefinition(
        name="dose-crosscheck",
        period_kind="day",
        cron={"hour": 3, "minute": 15},
        description="Dispensations against prescriptions, and doses reported in cases against what was dispensed",
        compute=dose_crosscheck,
    ),
    JobDefinition(
        name="titration-crosscheck",
        period_kind="day",
        cron={"hour": 3, "minute": 45},
        description="Titration steps against the protocol; reactions after dose changes",
        compute=titration_crosscheck,
    ),
    JobDefinition(
        name="follow-up-reminders",
        period_kind="day",
        cron={"hour": 7, "minute": 0},
        description="Complex consultations missed, follow-ups past their date, overdue triage",
        compute=follow_up_reminders,
    ),
    JobDefinition(
        name="weekly-signal-digest",
        period_kind="week",
        cron={"day_of_week": "mon", "hour": 6, "minute": 0},
        description="The past ISO week's totals and disproportionality signals",
        compute=weekly_signal_digest,
    ),
    JobDefinition(
        name="retention",
        period_kind="month",
        cron={"day": 1, "hour": 4, "minute": 30},
        description="Pseudonymises the registry mirror two years after the experimentation's end",
        compute=retention,
    ),
)
JOBS_BY_NAME = {job.name: job for job in JOBS}
