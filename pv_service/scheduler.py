"""The in-process scheduler (APScheduler 3.x), started and stopped with the application's lifespan."""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from pv_service.config import Settings


def create_scheduler(settings: Settings) -> AsyncIOScheduler:
    return AsyncIOScheduler(
        timezone=settings.zone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
