"""[intake] Report intake under 32 concurrent clients (SPEC §9).

Gate: no error and at least 40 % of the throughput of a bare endpoint on the same server that stores the
raw body; goal: 1,500 reports/s with p99 ≤ 50 ms. The real service runs under uvicorn in a subprocess on
loopback (intake_server.py); the load comes from another process (intake_load.py), first against the bare
endpoint, then against ``POST /api/v1/reports``, with the same bodies and the same bounds. With several
instances on one database (PostgreSQL), each has its own load generator and a share of the clients.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import msgspec
from common import BENCH_DIR, FigureResult, Measure, Reference, Sizes, gates_met, open_context, verdict
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
SPEC_CLIENTS = 32
CLIENT_BOUND = 0.8  # share of a core


@dataclass(frozen=True)
class Prepared:
    """The token, and one file of bodies per service instance (each its own reports, none sent twice)."""

    token: str
    bodies: list[Path]


async def prepare(settings: Settings, sizes: Sizes) -> Prepared:
    """Registry, the bare endpoint's table and a prescriber token in the database; bodies in files."""
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
    count = sizes.intake_warmup + sizes.intake_requests
    lines = report_bodies(reachable_patients(records, prescriber), context.reference, today, count).splitlines()
    instances = sizes.intake_instances
    bodies = [settings.data_dir / f"intake-bodies-{index}.ndjson" for index in range(instances)]
    for index, path in enumerate(bodies):
        path.write_bytes(b"".join(line + b"\n" for line in lines[index::instances]))
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
def served_once(settings: Settings, profile: Path | None, index: int) -> Iterator[str]:
    """One service instance on a free loopback port for the duration of the block; always terminated after."""
    port = free_port()
    command = [sys.executable, str(BENCH_DIR / "intake_server.py"), "--database-url", settings.database_url]
    command += ["--data-dir", str(settings.data_dir), "--port", str(port)]
    if profile is not None:
        command += ["--profile", str(profile.with_name(f"{profile.name}-{index}") if index else profile)]
    log = settings.data_dir / ("intake-server.log" if index == 0 else f"intake-server-{index}.log")
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


@contextmanager
def served(settings: Settings, profile: Path | None, instances: int) -> Iterator[list[str]]:
    """``instances`` services on one database, each on its own port."""
    with ExitStack() as stack:
        yield [stack.enter_context(served_once(settings, profile, index)) for index in range(instances)]


def _share(total: int, instances: int, index: int) -> int:
    """Instance ``index``'s part of ``total`` clients or requests, the parts adding up to the total."""
    return total // instances + (1 if index < total % instances else 0)


def load(urls: list[str], prepared: Prepared, sizes: Sizes) -> LoadResult:
    """One load generator per instance, all at once, the clients and requests shared among them."""
    generators = []
    for index, (url, bodies) in enumerate(zip(urls, prepared.bodies, strict=True)):
        command = [sys.executable, str(BENCH_DIR / "intake_load.py"), "--url", url, "--bodies", str(bodies)]
        command += ["--clients", str(_share(sizes.intake_clients, len(urls), index))]
        command += ["--requests", str(_share(sizes.intake_requests, len(urls), index))]
        command += ["--seconds", str(sizes.intake_seconds)]
        command += ["--warmup", str(_share(sizes.intake_warmup, len(urls), index))]
        generators.append(
            subprocess.Popen(
                command,
                env={**os.environ, TOKEN_VARIABLE: prepared.token},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    outputs = []
    try:
        outputs = [generator.communicate(timeout=2 * sizes.intake_seconds + 120) for generator in generators]
    finally:
        for generator in generators:
            if generator.poll() is None:
                generator.kill()
                generator.wait()
    results = []
    for generator, (out, err) in zip(generators, outputs, strict=True):
        if generator.returncode != 0:
            raise RuntimeError(f"the load generator failed:\n{err.decode(errors='replace')[-3000:]}")
        results.append(msgspec.json.decode(out, type=LoadResult))
    return combined(results)


def combined(results: list[LoadResult]) -> LoadResult:
    """The generators' phases as one: requests over the longest phase; each percentile the highest of the
    instances' (the combined one cannot be above it); the busiest generator's CPU (each is one process)."""
    if len(results) == 1:
        return results[0]
    requests = sum(result.requests for result in results)
    seconds = max(result.seconds for result in results)
    return LoadResult(
        requests=requests,
        errors=sum(result.errors for result in results),
        seconds=seconds,
        per_second=requests / seconds,
        p50_ms=max(result.p50_ms for result in results),
        p99_ms=max(result.p99_ms for result in results),
        client_cpu=max(result.client_cpu for result in results),
        error_samples=[sample for result in results for sample in result.error_samples],
    )


def result(intake: LoadResult, bare: LoadResult, sizes: Sizes) -> FigureResult:
    """The figure's line and measures; a profiled server is slower, and the line says so."""
    bare_rate = Reference("bare endpoint on the same server", bare.per_second, "req/s")
    ratio = Measure("ratio_to_bare_endpoint", intake.per_second / bare.per_second, "×", ">=", GATE_RATIO, bare_rate)
    errors = Measure("errors", intake.errors, "errors", "<=", 0)
    rate = Measure("reports_per_second", intake.per_second, "reports/s", ">=", GOAL_PER_SECOND, goal=True)
    p99 = Measure("p99", intake.p99_ms, "ms", "<=", GOAL_P99_MS, goal=True)
    measures = (ratio, errors, rate, p99)
    first_error = f" (first: {intake.error_samples[0][:120]!r})" if intake.errors else ""
    instances = sizes.intake_instances
    over = f" over {instances} instances on one database" if instances > 1 else ""
    line = (
        f"report intake, {sizes.intake_clients} clients{over}, {sizes.patients:,}-patient registry: "
        f"{intake.requests} reports in {intake.seconds:.1f} s = {rate.value:,.0f} reports/s, "
        f"p50 {intake.p50_ms:.0f} ms, p99 {p99.value:.0f} ms, {intake.errors} errors{first_error}; "
        f"bare endpoint {bare_rate.value:,.0f} req/s (p99 {bare.p99_ms:.0f} ms, {bare.errors} errors); "
        f"ratio {ratio.value:.2f} (gate: 0 errors and >= {ratio.target:.2f}) {verdict(gates_met(measures))}; "
        f"goal >= {rate.target:,.0f} reports/s with p99 <= {p99.target:.0f} ms: "
        f"{'met' if rate.met and p99.met else 'not met'} "
        f"(load generator CPU {intake.client_cpu:.0%} / {bare.client_cpu:.0%} of a core{_client_bound(bare)})"
        + ("; server under cProfile: rates understated" if sizes.profile_dir is not None else "")
    )
    return FigureResult(
        figure="intake",
        line=line,
        size={"clients": sizes.intake_clients, "patients": sizes.patients, "instances": instances},
        spec_size={"clients": SPEC_CLIENTS},
        measures=measures,
        details={
            "requests": intake.requests,
            "seconds": intake.seconds,
            "p50_ms": intake.p50_ms,
            "bare_requests": bare.requests,
            "bare_p99_ms": bare.p99_ms,
            "bare_errors": bare.errors,
            "client_cpu": intake.client_cpu,
            "bare_client_cpu": bare.client_cpu,
            "first_error": intake.error_samples[0][:300] if intake.error_samples else None,
            "server_profiled": sizes.profile_dir is not None,
        },
    )


def _client_bound(bare: LoadResult) -> str:
    """A busy load generator means the bare figure is a floor, and the ratio flatters the intake."""
    return "; bare phase client-bound, its rate is a lower bound" if bare.client_cpu >= CLIENT_BOUND else ""


def intake_figure(settings: Settings, sizes: Sizes) -> FigureResult:
    prepared = asyncio.run(prepare(settings, sizes))
    profile = sizes.profile_dir / "intake-server" if sizes.profile_dir is not None else None
    with served(settings, profile, sizes.intake_instances) as base_urls:
        bare = load([url + BARE_PATH for url in base_urls], prepared, sizes)
        intake = load([url + REPORTS_PATH for url in base_urls], prepared, sizes)
    return result(intake, bare, sizes)
