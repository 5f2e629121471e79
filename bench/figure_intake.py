"""[intake] Report intake under 32 concurrent clients (SPEC §9).

Gate: no error and at least 40 % of the throughput of a bare endpoint on the same server that stores the
raw body; goal: 1,500 reports/s with p99 ≤ 50 ms. The real service runs under uvicorn in a subprocess on
loopback (intake_server.py); the load comes from another process (intake_load.py), first against the bare
endpoint, then against ``POST /api/v1/reports``, with the same bodies and the same bounds.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import msgspec
from common import BENCH_DIR, Sizes, open_context, verdict
from intake_bodies import reachable_patients, report_bodies
from intake_load import TOKEN_VARIABLE, LoadResult
from intake_server import BARE_PATH, HOST, create_raw_bodies_table
from seed import import_registry

from pv_service.config import Settings
from pv_service.demo_data import demo_professionals, generate_registry
from pv_service.users.service import issue_token

REPORTS_PATH = "/api/v1/reports"
GATE_RATIO = 0.40
GOAL_PER_SECOND = 1500
GOAL_P99_MS = 50.0
START_TIMEOUT_SECONDS = 60.0
CLIENT_BOUND = 0.8  # share of a core


@dataclass(frozen=True)
class Prepared:
    token: str
    bodies: Path


async def prepare(settings: Settings, sizes: Sizes) -> Prepared:
    """Registry, the bare endpoint's table and a prescriber token in the database; bodies in a file."""
    today = datetime.now(settings.zone).date()
    prescriber = demo_professionals()["prescriber"]
    context = await open_context(settings)
    try:
        records = generate_registry(
            patients=sizes.patients, today=today, reference=context.reference, settings=context.settings
        )
        await import_registry(context, records)
        await create_raw_bodies_table(context.database)
        async with context.database.session() as session, session.begin():
            token = (await issue_token(session, rpps=prescriber, days=1, actor="bench")).token
    finally:
        await context.database.dispose()
    bodies = settings.data_dir / "intake-bodies.ndjson"
    count = sizes.intake_warmup + sizes.intake_requests
    bodies.write_bytes(report_bodies(reachable_patients(records, prescriber), context.reference, today, count))
    return Prepared(token=token, bodies=bodies)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _wait_until_healthy(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the service did not start:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service did not answer /health within {START_TIMEOUT_SECONDS:.0f} s")


@contextmanager
def served(settings: Settings, profile: Path | None) -> Iterator[str]:
    """The service on a free loopback port for the duration of the block; always terminated after it."""
    port = free_port()
    command = [sys.executable, str(BENCH_DIR / "intake_server.py"), "--database-url", settings.database_url]
    command += ["--data-dir", str(settings.data_dir), "--port", str(port)]
    if profile is not None:
        command += ["--profile", str(profile)]
    log = settings.data_dir / "intake-server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            base_url = f"http://{HOST}:{port}"
            _wait_until_healthy(base_url, server, log)
            yield base_url
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def load(url: str, prepared: Prepared, sizes: Sizes) -> LoadResult:
    command = [sys.executable, str(BENCH_DIR / "intake_load.py"), "--url", url, "--bodies", str(prepared.bodies)]
    command += ["--clients", str(sizes.intake_clients), "--requests", str(sizes.intake_requests)]
    command += ["--seconds", str(sizes.intake_seconds), "--warmup", str(sizes.intake_warmup)]
    done = subprocess.run(
        command,
        env={**os.environ, TOKEN_VARIABLE: prepared.token},
        capture_output=True,
        timeout=2 * sizes.intake_seconds + 120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    return msgspec.json.decode(done.stdout, type=LoadResult)


def describe(intake: LoadResult, bare: LoadResult, sizes: Sizes) -> str:
    """The figure's one line; a profiled server is slower, and the line says so."""
    ratio = intake.per_second / bare.per_second
    gate = intake.errors == 0 and ratio >= GATE_RATIO
    goal = intake.per_second >= GOAL_PER_SECOND and intake.p99_ms <= GOAL_P99_MS
    errors = f"{intake.errors} errors" + (f" (first: {intake.error_samples[0][:120]!r})" if intake.errors else "")
    return (
        f"report intake, {sizes.intake_clients} clients, {sizes.patients:,}-patient registry: "
        f"{intake.requests} reports in {intake.seconds:.1f} s = {intake.per_second:,.0f} reports/s, "
        f"p50 {intake.p50_ms:.0f} ms, p99 {intake.p99_ms:.0f} ms, {errors}; "
        f"bare endpoint {bare.per_second:,.0f} req/s (p99 {bare.p99_ms:.0f} ms, {bare.errors} errors); "
        f"ratio {ratio:.2f} (gate: 0 errors and >= {GATE_RATIO:.2f}) {verdict(gate)}; "
        f"goal >= {GOAL_PER_SECOND:,} reports/s with p99 <= {GOAL_P99_MS:.0f} ms: {'met' if goal else 'not met'} "
        f"(load generator CPU {intake.client_cpu:.0%} / {bare.client_cpu:.0%} of a core{_client_bound(bare)})"
        + ("; server under cProfile: rates understated" if sizes.profile_dir is not None else "")
    )


def _client_bound(bare: LoadResult) -> str:
    """A busy load generator means the bare figure is a floor, and the ratio flatters the intake."""
    return "; bare phase client-bound, its rate is a lower bound" if bare.client_cpu >= CLIENT_BOUND else ""


def intake_figure(settings: Settings, sizes: Sizes) -> str:
    prepared = asyncio.run(prepare(settings, sizes))
    profile = sizes.profile_dir / "intake-server" if sizes.profile_dir is not None else None
    with served(settings, profile) as base_url:
        bare = load(base_url + BARE_PATH, prepared, sizes)
        intake = load(base_url + REPORTS_PATH, prepared, sizes)
    return describe(intake, bare, sizes)
