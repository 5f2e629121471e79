"""Jobs on demand and their records (SPEC §6, §14): start a run, list jobs with next and last runs, and the
anomalies the cross-checks found."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time

import msgspec

from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.errors import MalformedRequest, NotFound, RuleViolation, StateConflict
from pv_service.jobs import repository
from pv_service.jobs.catalogue import JOBS, JOBS_BY_NAME
from pv_service.jobs.periods import FIRST_YEAR, LAST_YEAR, PeriodKind, check_in_calendar, latest_complete, parse_period
from pv_service.jobs.runner import ClaimHeld, JobDefinition, Trigger, run_job
from pv_service.jobs.scheduling import cron_trigger
from pv_service.jobs.schemas import AnomalyView, JobView, RunView
from pv_service.pagination import Page
from pv_service.rules.field_error import FieldError
from pv_service.rules.text import Text
from pv_service.storage.models import JobRun


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


# How a period is written, said whichever way a key was refused (its shape, or a year outside the calendar).
CALENDAR = {"first": str(FIRST_YEAR), "last": str(LAST_YEAR)}
PERIOD_WRITTEN: dict[PeriodKind, Text] = {
    "week": Text("A week is written YYYY-Www, for example 2026-W47, in the years {first} to {last}.", CALENDAR),
    "month": Text("A month is written YYYY-MM, in the years {first} to {last}.", CALENDAR),
    "day": Text("A day is written YYYY-MM-DD, in the years {first} to {last}.", CALENDAR),
}


def job_named(name: str) -> JobDefinition:
    definition = JOBS_BY_NAME.get(name)
    if definition is None:
        raise NotFound("job")
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
        except ValueError:
            written = PERIOD_WRITTEN[definition.period_kind]
            raise MalformedRequest([FieldError("period", "invalid_value", written)]) from None
    if not period.is_complete(today):
        not_over = Text("The period {period} is not over yet.", {"period": period.key})
        raise RuleViolation([FieldError("period", "period_incomplete", not_over)])
    try:
        run, created = await run_job(context, definition, period, force=force, trigger=trigger)
    except ClaimHeld:
        raise StateConflict(Text("This period's run is under way on another instance; try again later.")) from None
    view = run_view(run)
    return (view, True) if created else (msgspec.structs.replace(view, already_done=True), False)


async def list_jobs(context: ServiceContext) -> list[JobView]:
    now = datetime.now(context.settings.zone)
    async with context.database.read_session() as session:
        runs = await repository.latest_runs(session)
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
    query = repository.NEWEST_RUNS.query(repository.runs_query(name), cursor, limit)
    async with context.database.read_session() as session:
        rows = list(await session.scalars(query))
    return repository.NEWEST_RUNS.page(rows, limit, key=lambda r: [r.id], view=run_view)


async def list_anomalies(
    context: ServiceContext,
    *,
    kinds: Sequence[str],
    patient: str | None,
    since: date | None,
    cursor: str | None,
    limit: int,
) -> Page[AnomalyView]:
    """Newest first; ``since`` is a local day."""
    if since is not None:
        try:
            check_in_calendar(since)
        except ValueError:
            outside = Text("Dates run from {first} to {last}.", CALENDAR)
            raise MalformedRequest([FieldError("since", "out_of_range", outside)]) from None
    start = datetime.combine(since, time(0), tzinfo=context.settings.zone).astimezone(UTC) if since else None
    query = repository.NEWEST_ANOMALIES.query(repository.anomalies_query(kinds, patient, start), cursor, limit)
    async with context.database.read_session() as session:
        rows = list(await session.execute(query))
        cases = await repository.cases_of(session, [a.id for a, _ in rows[:limit]])
    return repository.NEWEST_ANOMALIES.page(
        rows,
        limit,
        key=lambda row: [row[0].id],
        view=lambda row: repository.anomaly_view(row[0], row[1], cases[row[0].id]),
    )


async def case_numbers(context: ServiceContext, case_ids: Sequence[int]) -> dict[int, str]:
    """The case numbers of the cases a page of findings names (``AnomalyView.cases`` holds their ids)."""
    async with context.database.read_session() as session:
        return await repository.case_numbers(session, case_ids)
