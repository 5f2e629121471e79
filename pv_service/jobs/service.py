"""Jobs on demand and their records (SPEC §6, §14): start a run, list jobs with next and last runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import func, select

from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.errors import Problem, conflict, not_found, rule_violation
from pv_service.jobs.catalogue import JOBS, JOBS_BY_NAME
from pv_service.jobs.periods import latest_complete, parse_period
from pv_service.jobs.runner import ClaimHeld, JobDefinition, Trigger, run_job
from pv_service.jobs.scheduling import cron_trigger
from pv_service.pagination import Page, decode_cursor, encode_cursor
from pv_service.rules.field_error import FieldError
from pv_service.storage.models import JobRun


class RunView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    job: str
    period: str
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    error: str | None


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    period: str
    schedule: dict[str, Any]
    next_run_at: datetime | None
    last_run: RunView | None


def run_view(run: JobRun) -> RunView:
    return RunView(
        id=run.id,
        job=run.job,
        period=run.period,
        status=run.status,
        trigger=run.trigger,
        started_at=run.started_at,
        finished_at=run.finished_at,
        counts=run.counts,
        error=run.error,
    )


def job_named(name: str) -> JobDefinition:
    definition = JOBS_BY_NAME.get(name)
    if definition is None:
        raise not_found("job")
    return definition


async def start_run(
    context: ServiceContext, name: str, period_key: str | None, *, force: bool, trigger: Trigger
) -> tuple[RunView, bool]:
    """The run carried out now (True), or the run that already settled the period (False)."""
    definition = job_named(name)
    today = utc_now().astimezone(context.settings.zone).date()
    if period_key is None:
        period = latest_complete(definition.period_kind, today)
    else:
        try:
            period = parse_period(definition.period_kind, period_key)
        except ValueError as exc:
            raise Problem(400, str(exc), [FieldError("period", "invalid_value", str(exc))]) from None
    if not period.is_complete(today):
        raise rule_violation([FieldError("period", "period_incomplete", f"{period.key} is not over yet.")])
    try:
        run, created = await run_job(context, definition, period, force=force, trigger=trigger)
    except ClaimHeld as held:
        raise conflict(str(held)) from None
    return run_view(run), created


async def list_jobs(context: ServiceContext) -> list[JobView]:
    now = datetime.now(context.settings.zone)
    async with context.database.read_session() as session:
        latest_ids = select(func.max(JobRun.id)).group_by(JobRun.job)
        runs = {run.job: run for run in await session.scalars(select(JobRun).where(JobRun.id.in_(latest_ids)))}
    return [
        JobView(
            name=definition.name,
            description=definition.description,
            period=definition.period_kind,
            schedule={**definition.cron, "timezone": context.settings.time_zone},
            next_run_at=cron_trigger(definition, context).get_next_fire_time(None, now),
            last_run=run_view(runs[definition.name]) if definition.name in runs else None,
        )
        for definition in JOBS
    ]


async def list_runs(context: ServiceContext, name: str, cursor: str | None, limit: int) -> Page[RunView]:
    job_named(name)
    query = select(JobRun).where(JobRun.job == name)
    if cursor:
        (before,) = decode_cursor(cursor, (int,))
        query = query.where(JobRun.id < before)
    async with context.database.read_session() as session:
        rows = list(await session.scalars(query.order_by(JobRun.id.desc()).limit(limit + 1)))
    items = [run_view(r) for r in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor([items[-1].id]) if len(rows) > limit else None)
