"""The benchmark of SPEC §9, one command: ``make bench`` (or ``python bench/run.py [FIGURE ...]``).

Each figure prints one line: what was measured, the result and the target; bench/results.json (or
``--results``) receives the same figures and the machine they ran on, rewritten after each figure.
Figures run on a fresh SQLite file in a temporary folder, or with ``--postgres URL`` on a database of
their own created on that server and dropped after, or on ``--database-url``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec
from common import BENCH_DIR, SPEC_SIZES, FigureResult, Measure, Sizes, figure_json, gates_met, verdict
from figure_crosschecks import crosschecks_figure
from figure_digest import digest_figure
from figure_intake import intake_figure
from figure_queue import queue_figure
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from pv_service.config import Settings, sqlite_url
from pv_service.context import open_context
from pv_service.demo_data import generate_registry
from pv_service.registry.service import import_ndjson

IMPORT_TARGET_PER_SECOND = 20_000


async def registry_import(settings: Settings, patients: int) -> FigureResult:
    async with open_context(replace(settings, migrate_on_start=True)) as context:
        records = generate_registry(
            patients=patients, today=date(2026, 11, 22), reference=context.reference, settings=settings
        )
        body = b"\n".join(msgspec.json.encode(r) for r in records) + b"\n"
        chunks = [body[start : start + (1 << 20)] for start in range(0, len(body), 1 << 20)]
        started = time.perf_counter()
        report = await import_ndjson(context, chunks, actor="bench")
        elapsed = time.perf_counter() - started
    rate = Measure("records_per_second", report.total / elapsed, "records/s", ">=", IMPORT_TARGET_PER_SECOND)
    failed = Measure("failed_records", report.failed, "records", "<=", 0)
    measures = (rate, failed)
    line = (
        f"registry import: {report.total} records ({report.failed} failed) in {elapsed:.2f} s = "
        f"{rate.value:,.0f} records/s (target >= {rate.target:,.0f}) {verdict(gates_met(measures))}"
    )
    return FigureResult(
        figure="import",
        line=line,
        size={"patients": patients, "records": report.total},
        spec_size=None,
        measures=measures,
        details={"seconds": elapsed},
    )


def _import_figure(settings: Settings, sizes: Sizes) -> FigureResult:
    return asyncio.run(registry_import(settings, sizes.patients))


Figure = Callable[[Settings, Sizes], FigureResult]


def _in_loop(figure: Callable[[Settings, Sizes], Coroutine[Any, Any, FigureResult]]) -> Figure:
    """Figures written as coroutines get their own event loop, as the import figure always had."""

    def run(settings: Settings, sizes: Sizes) -> FigureResult:
        return asyncio.run(figure(settings, sizes))

    return run


FIGURES: dict[str, Figure] = {
    "import": _import_figure,
    "intake": intake_figure,
    "queue": _in_loop(queue_figure),
    "digest": _in_loop(digest_figure),
    "crosschecks": _in_loop(crosschecks_figure),
}


def _arguments() -> argparse.Namespace:
    defaults = Sizes()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # argparse checks a positional's empty default against the choices, hence the [] choice: none = all.
    parser.add_argument("figures", nargs="*", choices=[*FIGURES, []], default=[], help="default: every figure")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--database-url", default=None, help="an empty database, one figure per run (default: temp SQLite)"
    )
    where.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="a PostgreSQL server (postgresql+asyncpg://user@host:port/maintenance-db): each figure on a "
        "bench_<figure>_<random> database created there and dropped after",
    )
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.json", help="where the JSON goes")
    parser.add_argument(
        "--scale", choices=("default", "spec"), default="default", help="'spec': the SPEC §9 sizes (takes long)"
    )
    parser.add_argument("--patients", type=int, default=defaults.patients, help="registry size (import, intake)")
    parser.add_argument("--clients", type=int, default=defaults.intake_clients, help="intake: concurrent clients")
    parser.add_argument("--requests", type=int, default=defaults.intake_requests, help="intake: requests per phase")
    parser.add_argument("--seconds", type=float, default=defaults.intake_seconds, help="intake: time per phase")
    parser.add_argument(
        "--intake-instances", type=int, default=None, help="intake: service instances on one database (PostgreSQL: 2)"
    )
    parser.add_argument("--queue-cases", type=int, default=None, help=f"queue: cases ({defaults.queue_cases:,})")
    parser.add_argument("--digest-cases", type=int, default=None, help=f"digest: cases ({defaults.digest_cases:,})")
    parser.add_argument(
        "--digest-patients", type=int, default=None, help=f"digest: patients ({defaults.digest_patients:,})"
    )
    parser.add_argument(
        "--dispensations", type=int, default=None, help=f"crosschecks: large size ({defaults.dispensations:,})"
    )
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats of each figure here")
    return parser.parse_args()


def _sizes(arguments: argparse.Namespace) -> Sizes:
    sizes = Sizes(
        patients=arguments.patients,
        intake_clients=arguments.clients,
        intake_requests=arguments.requests,
        intake_seconds=arguments.seconds,
        intake_instances=arguments.intake_instances or (2 if _engine(_server_url(arguments)) == "postgresql" else 1),
        profile_dir=arguments.profile,
    )
    if arguments.scale == "spec":
        sizes = replace(sizes, **SPEC_SIZES)
    chosen = {
        "queue_cases": arguments.queue_cases,
        "digest_cases": arguments.digest_cases,
        "digest_patients": arguments.digest_patients,
        "dispensations": arguments.dispensations,
    }
    return replace(sizes, **{name: value for name, value in chosen.items() if value is not None})


def _server_url(arguments: argparse.Namespace) -> str | None:
    return arguments.postgres or arguments.database_url


def _engine(url: str | None) -> str:
    return "sqlite" if url is None else make_url(url).get_backend_name()


async def _autocommit(url: str, statement: str) -> str | None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text(statement))
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


@contextmanager
def postgres_database(server_url: str, figure: str) -> Iterator[str]:
    """A database of the figure's own on the server for the duration of the block, dropped after it even
    when the figure fails (WITH (FORCE): a service instance may still hold a connection)."""
    name = f"bench_{figure}_{secrets.token_hex(4)}"
    asyncio.run(_autocommit(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_autocommit(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _cpu_model() -> str | None:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)


def machine(url: str | None) -> dict[str, Any]:
    """Where the figures were measured: they mean little without it."""
    engine = _engine(url)
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": asyncio.run(_autocommit(url, "SHOW server_version")) if url and engine == "postgresql" else None,
        "engine": engine,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _without_passwords(argument: str) -> str:
    """A database URL's password has no place in a file that may be committed."""
    return re.sub(r"(://[^:/@]+:)[^/]*@", r"\1***@", argument)


def write_results(path: Path, machine_block: dict[str, Any], results: list[FigureResult]) -> None:
    document = {
        "command": ["bench/run.py", *map(_without_passwords, sys.argv[1:])],
        "machine": machine_block,
        "figures": {result.figure: figure_json(result) for result in results},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n")


@contextmanager
def figure_database(arguments: argparse.Namespace, folder: Path, figure: str) -> Iterator[str]:
    if arguments.postgres:
        with postgres_database(arguments.postgres, figure) as url:
            yield url
    else:
        yield arguments.database_url or sqlite_url(folder / f"{figure}.db")


def main() -> None:
    arguments = _arguments()
    sizes = _sizes(arguments)
    machine_block = machine(_server_url(arguments))
    results: list[FigureResult] = []
    with tempfile.TemporaryDirectory() as folder:
        for name in arguments.figures or FIGURES:
            with figure_database(arguments, Path(folder), name) as url:
                settings = Settings(data_dir=Path(folder), database_url=url, scheduler_enabled=False)
                result = FIGURES[name](settings, sizes)
            print(result.line, flush=True)
            results.append(result)
            write_results(arguments.results, machine_block, results)


if __name__ == "__main__":
    main()
