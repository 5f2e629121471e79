"""The benchmark of SPEC §9, one command: ``make bench`` (or ``python bench/run.py [FIGURE ...]``).

Each figure prints one line: what was measured, the result and the target. Figures run on a fresh
SQLite file in a temporary folder unless ``--database-url`` points elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import msgspec

from pv_service.config import Settings, sqlite_url
from pv_service.demo_data import generate_registry
from pv_service.reference import load_reference
from pv_service.registry.importer import NdjsonLines, RegistryImport
from pv_service.storage.database import Database
from pv_service.storage.migrate import upgrade

IMPORT_TARGET_PER_SECOND = 20_000


async def registry_import(settings: Settings, patients: int) -> str:
    records = generate_registry(patients=patients, today=date(2026, 11, 22))
    body = b"\n".join(msgspec.json.encode(r) for r in records) + b"\n"
    database = Database(settings.database_url)
    await upgrade(database)
    started = time.perf_counter()
    job = RegistryImport(reference=load_reference(settings.schemas_dir), settings=settings, actor="bench")
    lines = NdjsonLines()
    for start in range(0, len(body), 1 << 20):
        job.add_lines(lines.feed(body[start : start + (1 << 20)]))
    job.add_lines(lines.finish())
    report = await job.apply(database)
    elapsed = time.perf_counter() - started
    await database.dispose()
    rate = report.total / elapsed
    verdict = "ok" if rate >= IMPORT_TARGET_PER_SECOND and report.failed == 0 else "BELOW TARGET"
    return (
        f"registry import: {report.total} records ({report.failed} failed) in {elapsed:.2f} s = "
        f"{rate:,.0f} records/s (target >= {IMPORT_TARGET_PER_SECOND:,}) {verdict}"
    )


FIGURES: dict[str, Callable[[Settings, int], Awaitable[str]]] = {"import": registry_import}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("figures", nargs="*", choices=[*FIGURES, []], default=list(FIGURES))
    parser.add_argument("--patients", type=int, default=2000, help="size of the generated registry")
    parser.add_argument("--database-url", default=None)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name in arguments.figures or FIGURES:
            url = arguments.database_url or sqlite_url(Path(folder) / f"{name}.db")
            settings = Settings(data_dir=Path(folder), database_url=url, scheduler_enabled=False)
            print(asyncio.run(FIGURES[name](settings, arguments.patients)), flush=True)


if __name__ == "__main__":
    main()
