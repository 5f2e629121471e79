"""Runs a job for a period exactly once across instances (SPEC §6, §14).

APScheduler 3 cannot share a job store between processes, so the claim row in ``job_claims`` is what
makes a cluster safe: the first instance to insert it runs the period; a running claim whose heartbeat
is older than the lease may be taken over; a failed period is retried a bounded number of times. The
job computes in read transactions and writes its output together with its success in one short
transaction, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.jobs.periods import JobPeriod, PeriodKind
from pv_service.jobs.repository import store_findings
from pv_service.rules.findings import Finding
from pv_service.rules.personal_identifiers import redact_personal_identifiers
from pv_service.storage.models import JobClaim, JobRun

logger = logging.getLogger("pv_service.jobs")
Trigger = Literal["api", "cli", "schedule", "catch-up"]
INSTANCE = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class JobOutput:
    """What a job found; ``write`` stores it in the run's closing transaction and returns the counts."""

    write: Callable[[AsyncSession, int], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class JobDefinition:
    name: str
    period_kind: PeriodKind
    cron: dict[str, Any]
    description: str
    compute: Callable[[ServiceContext, JobPeriod], Awaitable[JobOutput]]


class ClaimHeld(Exception):
    """Another instance is running this period now."""


def _new_run(definition: JobDefinition, period: JobPeriod, trigger: Trigger) -> JobRun:
    return JobRun(
        job=definition.name,
        period=period.key,
        status="running",
        trigger=trigger,
        instance=INSTANCE,
        started_at=utc_now(),
        finished_at=None,
        counts={},
        error=None,
    )


async def _claim(
    context: ServiceContext, definition: JobDefinition, period: JobPeriod, *, force: bool, trigger: Trigger
) -> tuple[JobRun, bool]:
    """The run to carry out now (True), or the existing run that settles the period (False)."""
    now = utc_now()
    lease = timedelta(seconds=context.settings.job_lease_seconds)
    async with context.database.session() as session, session.begin():
        claim = await session.scalar(
            select(JobClaim).where(JobClaim.job == definition.name, JobClaim.period == period.key).with_for_update()
        )
        if claim is not None:
            previous = await session.get(JobRun, claim.run_id)
            assert previous is not None
            if claim.status == "running" and now - claim.heartbeat_at < lease:
                raise ClaimHeld(f"{definition.name} {period.key} is running on {previous.instance}")
            if claim.status == "succeeded" and not force:
                return previous, False
            automatic = trigger in ("schedule", "catch-up")
            if claim.status == "failed" and automatic and claim.attempts >= context.settings.job_max_attempts:
                return previous, False
            if previous.status == "running":
                previous.status, previous.finished_at, previous.error = "failed", now, "lease expired; taken over"
        run = _new_run(definition, period, trigger)
        session.add(run)
        await session.flush()
        if claim is None:
            session.add(
                JobClaim(
                    job=definition.name,
                    period=period.key,
                    status="running",
                    run_id=run.id,
                    heartbeat_at=now,
                    attempts=1,
                )
            )
        else:
            # A forced re-run of a settled period starts a fresh series of attempts.
            claim.attempts = 1 if claim.status == "succeeded" else claim.attempts + 1
            claim.status, claim.run_id, claim.heartbeat_at = "running", run.id, now
        return run, True


async def _heartbeat(context: ServiceContext, definition: JobDefinition, period: JobPeriod) -> None:
    interval = max(1.0, context.settings.job_lease_seconds / 3)
    while True:
        await asyncio.sleep(interval)
        async with context.database.session() as session, session.begin():
            claim = await session.get(JobClaim, (definition.name, period.key))
            if claim is not None:
                claim.heartbeat_at = utc_now()


async def run_job(
    context: ServiceContext,
    definition: JobDefinition,
    period: JobPeriod,
    *,
    force: bool = False,
    trigger: Trigger = "api",
) -> tuple[JobRun, bool]:
    """Run ``definition`` for ``period`` unless it is settled; the run is returned whatever its outcome."""
    try:
        run, created = await _claim(context, definition, period, force=force, trigger=trigger)
    except IntegrityError:
        # Another instance inserted the claim first: judge again against its row.
        run, created = await _claim(context, definition, period, force=force, trigger=trigger)
    if not created:
        return run, False
    heartbeat = asyncio.create_task(_heartbeat(context, definition, period))
    try:
        output = await definition.compute(context, period)
        async with context.database.session() as session, session.begin():
            counts = await output.write(session, run.id)
            await _close(session, definition, period, run.id, "succeeded", counts, None)
    except Exception as exc:  # a failed run is recorded, never raised to the caller
        logger.warning("job %s %s failed: %s", definition.name, period.key, type(exc).__name__)
        async with context.database.session() as session, session.begin():
            error = redact_personal_identifiers(f"{type(exc).__name__}: {exc}")
            await _close(session, definition, period, run.id, "failed", {}, error)
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
    async with context.database.read_session() as session:
        finished = await session.get(JobRun, run.id)
    assert finished is not None
    return finished, True


async def _close(
    session: AsyncSession,
    definition: JobDefinition,
    period: JobPeriod,
    run_id: int,
    status: str,
    counts: dict[str, int],
    error: str | None,
) -> None:
    run = await session.get(JobRun, run_id)
    claim = await session.get(JobClaim, (definition.name, period.key))
    assert run is not None and claim is not None
    run.status, run.finished_at, run.counts = status, utc_now(), counts
    run.error = error[:MAX_ERROR_LENGTH] if error else None
    if claim.run_id == run_id:
        claim.status = status


def findings_output(findings: list[Finding], counted: dict[str, int]) -> JobOutput:
    """A job's output made of findings: stored in the run's closing transaction, counted in its record."""

    async def write(session: AsyncSession, run_id: int) -> dict[str, int]:
        return {**counted, "findings": len(findings), "new_anomalies": await store_findings(session, findings, run_id)}

    return JobOutput(write=write)
