"""The in-process scheduler (APScheduler 3.x ``AsyncIOScheduler``), started and stopped with the app.

Cron triggers fire each job for its latest complete period; an hourly interval trigger (not a cron
time, so no daylight-saving trap) and a run at start catch up the latest missed complete period of each
job — never one that ended before the scheduler's first recorded start, so a new deployment does not
replay history. The claims in the database keep all of this single across instances.

A period found running on another instance is tried again once that claim's lease would have expired: if
the other instance died mid-run, this one takes the period over within a lease rather than at the next
hourly catch-up; while the claim is still held, the retry is put off by a lease again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.jobs.catalogue import JOBS
from pv_service.jobs.periods import JobPeriod, latest_complete
from pv_service.jobs.runner import ClaimHeld, JobDefinition, Trigger, run_job
from pv_service.storage.dialect import upsert_insert
from pv_service.storage.models import ServiceMarker

logger = logging.getLogger("pv_service.jobs")
FIRST_START = "scheduler_first_start"
CATCH_UP_INTERVAL_HOURS = 1
# After a held claim's lease, a little longer: the holder's last heartbeat may have come just after it was met.
RETRY_MARGIN_SECONDS = 1.0
SHUTDOWN_GRACE_SECONDS = 30.0


def cron_trigger(definition: JobDefinition, context: ServiceContext) -> CronTrigger:
    return CronTrigger(**definition.cron, timezone=context.settings.zone)


async def record_first_start(context: ServiceContext) -> datetime:
    """The scheduler's first start, recorded once for the whole cluster."""
    async with context.database.session() as session, session.begin():
        statement = upsert_insert(session, ServiceMarker).values(name=FIRST_START, at=utc_now())
        await session.execute(statement.on_conflict_do_nothing(index_elements=[ServiceMarker.name]))
        first = await session.scalar(select(ServiceMarker.at).where(ServiceMarker.name == FIRST_START))
    assert first is not None
    return first


def _period_end(context: ServiceContext, period: JobPeriod) -> datetime:
    return datetime.combine(period.end, time(0), tzinfo=context.settings.zone).astimezone(UTC)


async def run_latest(context: ServiceContext, definition: JobDefinition, trigger: Trigger) -> bool:
    """Run the job's latest complete period, unless it is settled or running elsewhere; True when another
    instance held its claim."""
    today = utc_now().astimezone(context.settings.zone).date()
    period = latest_complete(definition.period_kind, today)
    if trigger == "catch-up" and _period_end(context, period) <= await record_first_start(context):
        return False
    try:
        await run_job(context, definition, period, trigger=trigger)
    except ClaimHeld:
        logger.info("%s %s is running on another instance", definition.name, period.key)
        return True
    return False


async def catch_up(context: ServiceContext) -> list[JobDefinition]:
    """Each job's latest missed period; returns the jobs whose claim another instance held."""
    return [definition for definition in JOBS if await run_latest(context, definition, "catch-up")]


class RunningScheduler:
    """The scheduler and the job runs it has under way, so that shutdown can let them finish first."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.tasks: set[asyncio.Task[None]] = set()
        self.scheduler = AsyncIOScheduler(
            timezone=context.settings.zone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )

    async def _tracked(self, work: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await work()
        finally:
            self.tasks.discard(task)

    async def run_latest(self, definition: JobDefinition, trigger: Trigger = "schedule") -> None:
        async def work() -> None:
            if await run_latest(self.context, definition, trigger):
                self._retry_after_lease(definition, trigger)

        await self._tracked(work)

    async def catch_up(self) -> None:
        async def work() -> None:
            for definition in await catch_up(self.context):
                self._retry_after_lease(definition, "catch-up")

        await self._tracked(work)

    def _retry_after_lease(self, definition: JobDefinition, trigger: Trigger) -> None:
        """One more try of ``definition``'s latest period once the claim met now would have expired."""
        zone = self.context.settings.zone
        delay = timedelta(seconds=self.context.settings.job_lease_seconds + RETRY_MARGIN_SECONDS)
        self.scheduler.add_job(
            self.run_latest,
            DateTrigger(run_date=datetime.now(zone) + delay, timezone=zone),
            args=[definition, trigger],
            id=f"retry:{definition.name}",
            name=f"{definition.description} (held elsewhere: tried again)",
            replace_existing=True,
        )

    def start(self) -> None:
        zone = self.context.settings.zone
        for definition in JOBS:
            self.scheduler.add_job(
                self.run_latest,
                cron_trigger(definition, self.context),
                args=[definition],
                id=definition.name,
                name=definition.description,
            )
        self.scheduler.add_job(
            self.catch_up,
            IntervalTrigger(hours=CATCH_UP_INTERVAL_HOURS, timezone=zone),
            id="catch-up",
            next_run_time=datetime.now(zone),
        )
        self.scheduler.start()

    async def stop(self, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop firing, let runs under way finish (a run cut short is taken over once its lease expires)."""
        self.scheduler.shutdown(wait=False)
        if self.tasks:
            _, late = await asyncio.wait(set(self.tasks), timeout=grace_seconds)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=grace_seconds)


def start_scheduler(context: ServiceContext) -> RunningScheduler:
    running = RunningScheduler(context)
    running.start()
    return running
