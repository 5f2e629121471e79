"""Several instances (issue 11): two ``pv-service run`` servers on one PostgreSQL database, their schedulers on.

Migrations that both start at once apply once; each job's period runs once between them; and a job cut
short by a SIGKILL is taken over by the other instance once its lease expires. No test hook in the service:
the kill falls mid-job because the test holds a lock on the table the weekly digest writes last.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from alembic.script import ScriptDirectory
from conftest import POSTGRES_URL, _create_postgres_database, _drop_postgres_database, ndjson
from service_process import ServiceProcess, cli, service_env
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from pv_service.clock import utc_now
from pv_service.config import Settings
from pv_service.context import open_context
from pv_service.demo_cases import generate_cases
from pv_service.demo_data import demo_professionals, generate_registry
from pv_service.jobs.catalogue import JOBS
from pv_service.jobs.periods import latest_complete
from pv_service.jobs.scheduling import FIRST_START, RETRY_MARGIN_SECONDS
from pv_service.registry.service import import_ndjson
from pv_service.storage.migrate import alembic_config
from pv_service.storage.models import Anomaly, Base, Digest, JobClaim, JobRun, ServiceMarker
from pv_service.users.service import create_user

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

T = TypeVar("T")
DIGEST = "weekly-signal-digest"
ERROR_LINE = re.compile(r"^(ERROR|CRITICAL)\b|Traceback")
HELD = "is running on another instance"
WAIT_SECONDS = 60.0


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database of its own, dropped afterwards."""
    assert POSTGRES_URL
    url = await _create_postgres_database(POSTGRES_URL)
    try:
        yield url
    finally:
        await _drop_postgres_database(POSTGRES_URL, url)


def instance(folder: Path, name: str, url: str, **settings: str) -> ServiceProcess:
    """An instance on ``url`` with its scheduler on, its data folder and log of its own."""
    env = service_env(folder / name, DATABASE_URL=url, SCHEDULER_ENABLED="true", **settings)
    return ServiceProcess(env, folder / f"{name}.log")


def start_together(*instances: ServiceProcess) -> None:
    for server in instances:
        server.start(wait=False)
    for server in instances:
        server.wait_until_healthy()


def errors_in(server: ServiceProcess) -> list[str]:
    return [line for line in server.log.read_text(errors="replace").splitlines() if ERROR_LINE.search(line)]


def times_held(server: ServiceProcess) -> int:
    return server.log.read_text(errors="replace").count(HELD)


def pid_of(run: Any) -> int:
    """The process that ran ``run``: its instance is ``host:pid:nonce``."""
    return int(run.instance.split(":")[1])


async def query(url: str, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await read(connection)
    finally:
        await engine.dispose()


async def wait_for(url: str, read: Callable[[AsyncConnection], Awaitable[T]], what: str) -> T:
    """``read``'s first truthy answer, read every 0.2 s for up to a minute."""
    engine = create_async_engine(url)
    try:
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        while True:
            async with engine.connect() as connection:
                answer = await read(connection)
            if answer:
                return answer
            assert asyncio.get_running_loop().time() < deadline, f"not within {WAIT_SECONDS:.0f} s: {what}"
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def rows(connection: AsyncConnection, table: type[Base]) -> list[Any]:
    return list(await connection.execute(select(table)))


async def alembic_versions(connection: AsyncConnection) -> list[str]:
    return list(await connection.scalars(text("SELECT version_num FROM alembic_version")))


def latest_periods() -> dict[str, str]:
    """Each job's latest complete period today: what a catch-up at start runs."""
    today = datetime.now(Settings().zone).date()
    return {job.name: latest_complete(job.period_kind, today).key for job in JOBS}


async def populate(url: str, folder: Path, *, patients: int, cases: int) -> None:
    """A migrated database with a generated registry and cases received over the past months (the demo's
    generators), a PV staff member, and the scheduler's first start 90 days ago, as in a deployment that
    has been running: the instances started next catch up every job's latest period."""
    settings = Settings(data_dir=folder / "populate", database_url=url, scheduler_enabled=False, secret_key="test")
    async with open_context(settings) as context:
        today = datetime.now(settings.zone).date()
        records = generate_registry(patients=patients, today=today, reference=context.reference, settings=settings)
        assert (await import_ndjson(context, [ndjson(records)], actor="test")).failed == 0
        staff = demo_professionals()["pv_staff"]
        async with context.database.session() as session, session.begin():
            await create_user(session, rpps=staff, role="pv_staff", name="Évaluatrice", actor="test")
            session.add(ServiceMarker(name=FIRST_START, at=utc_now() - timedelta(days=90)))
        assert await generate_cases(context, staff_rpps=staff, count=cases) >= cases


async def test_two_instances_starting_together_on_an_empty_database_migrate_it_once(tmp_path: Path) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with fresh_database() as url:
        a, b = (instance(tmp_path, name, url, MIGRATE_ON_START="true") for name in ("a", "b"))
        try:
            start_together(a, b)
            async with httpx.AsyncClient() as http:
                for server in (a, b):
                    assert (await http.get(server.base_url + "/health")).json()["scheduler"] == "running"
        finally:
            a.stop()
            b.stop()
        assert await query(url, alembic_versions) == [head]
        tables = await query(url, lambda c: c.run_sync(lambda sync: set(sync.dialect.get_table_names(sync))))
        assert tables == {*Base.metadata.tables, "alembic_version"}
        # A new deployment replays no history: nothing to catch up before its first start.
        assert await query(url, lambda c: rows(c, JobRun)) == []
    assert errors_in(a) == errors_in(b) == []


async def test_two_db_upgrades_at_once_migrate_once(tmp_path: Path) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with fresh_database() as url:
        env = service_env(tmp_path, DATABASE_URL=url)
        await asyncio.gather(*(asyncio.to_thread(cli, env, "db", "upgrade") for _ in range(2)))
        assert await query(url, alembic_versions) == [head]


async def test_two_instances_run_each_jobs_latest_period_exactly_once(tmp_path: Path) -> None:
    lease = 5
    async with fresh_database() as url:
        await populate(url, tmp_path, patients=40, cases=40)
        periods = latest_periods()
        a, b = (instance(tmp_path, name, url, JOB_LEASE_SECONDS=str(lease)) for name in ("a", "b"))
        try:
            start_together(a, b)

            async def all_settled(connection: AsyncConnection) -> bool:
                claims = await rows(connection, JobClaim)
                return len(claims) == len(JOBS) and all(c.status != "running" for c in claims)

            await wait_for(url, all_settled, "every job's latest period settled")
            # Whoever met a claim held tries again after the lease: that try must find the period settled.
            await asyncio.sleep(lease + RETRY_MARGIN_SECONDS + 1)
        finally:
            a.stop()
            b.stop()

        async def outputs(connection: AsyncConnection) -> tuple[list[Any], ...]:
            return tuple([await rows(connection, table) for table in (JobRun, JobClaim, Digest, Anomaly)])

        runs, claims, digests, anomalies = await query(url, outputs)
    run_of = {run.job: run for run in runs}
    assert a.process is not None and b.process is not None
    by_pid = {a.process.pid: "A", b.process.pid: "B"}
    ran = ", ".join(f"{r.job} {r.period} on {by_pid.get(pid_of(r))}" for r in runs)
    held = times_held(a) + times_held(b)
    figures = f"{len(runs)} runs for {len(periods)} periods ({ran}); {len(anomalies)} findings; held claims met {held}"
    print(f"\n[instances] {figures}")
    assert sorted((r.job, r.period, r.status) for r in runs) == sorted(
        (job, period, "succeeded") for job, period in periods.items()
    ), figures
    assert {pid_of(r) for r in runs} <= set(by_pid), figures
    assert {(c.job, c.period): (c.status, c.attempts, c.run_id) for c in claims} == {
        (job, period): ("succeeded", 1, run_of[job].id) for job, period in periods.items()
    }
    assert [(d.week, d.job_run_id) for d in digests] == [(periods[DIGEST], run_of[DIGEST].id)]
    assert digests[0].body["totals"]["received"] > 0, "the week's digest counted no case: the test proves little"
    # Every finding stored once, by the one run that found it new.
    assert anomalies, "no finding: the cross-checks had nothing to find"
    assert len({f.key for f in anomalies}) == len(anomalies) == sum(r.counts.get("new_anomalies", 0) for r in runs)
    assert {f.job_run_id for f in anomalies} <= {r.id for r in runs}
    assert errors_in(a) == errors_in(b) == []


async def test_a_job_cut_short_by_a_kill_is_completed_by_the_other_instance_after_the_lease(tmp_path: Path) -> None:
    lease = 3
    async with fresh_database() as url:
        await populate(url, tmp_path, patients=20, cases=20)
        periods = latest_periods()
        week = periods[DIGEST]
        a, b = (instance(tmp_path, name, url, JOB_LEASE_SECONDS=str(lease)) for name in ("a", "b"))
        locker = create_async_engine(url)
        try:
            async with locker.connect() as lock:
                # The digest computes from cases and findings, then writes to digests: its write waits here.
                await lock.execute(text("LOCK TABLE digests IN ACCESS EXCLUSIVE MODE"))
                a.start()

                async def digest_waiting(connection: AsyncConnection) -> bool:
                    claim = await connection.scalar(select(JobClaim.status).where(JobClaim.job == DIGEST))
                    waiting = await connection.scalar(
                        text("SELECT count(*) FROM pg_locks WHERE relation = 'digests'::regclass AND NOT granted"
                             " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
                    )  # fmt: skip
                    return claim == "running" and bool(waiting)

                await wait_for(url, digest_waiting, "A's digest run waiting for its write")
                b.start()

                async def past_the_digest(connection: AsyncConnection) -> bool:
                    # Retention comes after the digest in a catch-up, and A is stuck at the digest.
                    return bool(await connection.scalar(select(func.count()).where(JobClaim.job == "retention")))

                await wait_for(url, past_the_digest, "B's catch-up past the held digest")
                assert times_held(b) >= 1, b.log_tail()
                a.kill()
                killed_at = utc_now()
                await lock.rollback()

            async def digest_settled(connection: AsyncConnection) -> bool:
                status = await connection.scalar(select(JobClaim.status).where(JobClaim.job == DIGEST))
                return status in ("succeeded", "failed")

            await wait_for(url, digest_settled, "B taking the digest over")
        finally:
            a.stop()
            b.stop()
            await locker.dispose()

        async def outputs(connection: AsyncConnection) -> tuple[list[Any], ...]:
            return tuple([await rows(connection, table) for table in (JobRun, JobClaim, Digest)])

        runs, claims, digests = await query(url, outputs)
    assert a.process is not None and b.process is not None
    digest_runs = sorted((r for r in runs if r.job == DIGEST), key=lambda r: r.id)
    assert [(r.period, pid_of(r), r.status, r.error) for r in digest_runs] == [
        (week, a.process.pid, "failed", "lease expired; taken over"),
        (week, b.process.pid, "succeeded", None),
    ]
    taken_over = digest_runs[1].started_at
    print(f"\n[instances] digest {week}: A killed mid-write, B took over {(taken_over - killed_at).total_seconds():.1f}"
          f" s later (lease {lease} s) after meeting A's claim {times_held(b)} times")  # fmt: skip
    assert taken_over > killed_at, "B took the claim over while A was alive"
    assert [(c.status, c.attempts, c.run_id) for c in claims if c.job == DIGEST] == [
        ("succeeded", 2, digest_runs[1].id)
    ]
    assert [(d.week, d.job_run_id) for d in digests] == [(week, digest_runs[1].id)]
    # The other jobs ran once each, before and after the digest.
    others = sorted((r.job, r.period, r.status) for r in runs if r.job != DIGEST)
    assert others == sorted((job, period, "succeeded") for job, period in periods.items() if job != DIGEST)
    assert errors_in(b) == []
