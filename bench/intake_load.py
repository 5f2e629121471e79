"""The intake figure's load generator, in a process of its own so it never shares a core's time with the
server's event loop: N concurrent clients (httpx) post pre-encoded bodies, a warm-up first, then a phase
bounded by a request count and a duration, whichever ends first.

``PV_BENCH_TOKEN=T python bench/intake_load.py --url URL --bodies FILE``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
from common import percentile

ERROR_SAMPLES = 5
TOKEN_VARIABLE = "PV_BENCH_TOKEN"


class LoadResult(msgspec.Struct, frozen=True):
    requests: int
    errors: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    client_cpu: float
    error_samples: list[str]


@dataclass
class Phase:
    """Hands out request numbers until the count or the time runs out, and tallies what came back."""

    limit: int
    deadline: float
    issued: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def take(self) -> int | None:
        if self.issued >= self.limit or time.perf_counter() >= self.deadline:
            return None
        self.issued += 1
        return self.issued

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(what[:300])


async def client_loop(client: httpx.AsyncClient, url: str, bodies: list[bytes], offset: int, phase: Phase) -> None:
    while (number := phase.take()) is not None:
        body = bodies[(offset + number) % len(bodies)]
        started = time.perf_counter()
        try:
            response = await client.post(url, content=body)
        except httpx.HTTPError as exc:
            phase.error(f"{type(exc).__name__}: {exc}")
            continue
        phase.latencies.append(time.perf_counter() - started)
        if not 200 <= response.status_code < 300:
            phase.error(f"{response.status_code} {response.text}")


@dataclass(frozen=True)
class Load:
    url: str
    bodies: list[bytes]

    async def run(self, clients: list[httpx.AsyncClient], phase: Phase, offset: int) -> float:
        """Seconds the phase lasted; each request takes the next body, so none is sent twice."""
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client, self.url, self.bodies, offset, phase) for client in clients))
        return time.perf_counter() - started


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def generate(load: Load, clients: int, token: str | None, arguments: argparse.Namespace) -> LoadResult:
    """One httpx client (one keep-alive connection) per concurrent worker: a shared pool of 32 cost httpx
    about half as much CPU again per request, and the load generator must not set the pace."""
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
    async with contextlib.AsyncExitStack() as stack:
        pool = [
            await stack.enter_async_context(
                httpx.AsyncClient(headers=headers, limits=httpx.Limits(max_connections=1), timeout=60.0)
            )
            for _ in range(clients)
        ]
        await load.run(pool, Phase(arguments.warmup, time.perf_counter() + arguments.seconds), 0)
        cpu = _cpu_seconds()
        phase = Phase(arguments.requests, time.perf_counter() + arguments.seconds)
        seconds = await load.run(pool, phase, arguments.warmup)
        cpu = _cpu_seconds() - cpu
    latencies = phase.latencies or [0.0]
    return LoadResult(
        requests=phase.issued,
        errors=phase.errors,
        seconds=seconds,
        per_second=phase.issued / seconds,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        client_cpu=cpu / seconds,
        error_samples=phase.error_samples,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", type=Path, required=True, help="one JSON body per line")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=int, default=200)
    arguments = parser.parse_args()
    load = Load(arguments.url, arguments.bodies.read_bytes().splitlines())
    result = asyncio.run(generate(load, arguments.clients, os.environ.get(TOKEN_VARIABLE), arguments))
    sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")


if __name__ == "__main__":
    main()
