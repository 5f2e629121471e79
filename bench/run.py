"""The benchmark of SPEC §9, one command: ``make bench`` (or ``python bench/run.py [FIGURE ...]``).

Each figure prints one line: what was measured, the result and the target. Figures run on a fresh
SQLite file in a temporary folder unless ``--database-url`` points elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
from common import SPEC_SIZES, Sizes
from figure_crosschecks import crosschecks_figure
from figure_digest import digest_figure
from figure_intake import intake_figure
from figure_queue import queue_figure

from pv_service.config import Settings, sqlite_url
from pv_service.context import open_context
from pv_service.demo_data import generate_registry
from pv_service.registry.service import import_ndjson

IMPORT_TARGET_PER_SECOND = 20_000


async def registry_import(settings: Settings, patients: int) -> str:
    async with open_context(replace(settings, migrate_on_start=True)) as context:
        records = generate_registry(
            patients=patients, today=date(2026, 11, 22), reference=context.reference, settings=settings
        )
        body = b"\n".join(msgspec.json.encode(r) for r in records) + b"\n"
        chunks = [body[start : start + (1 << 20)] for start in range(0, len(body), 1 << 20)]
        started = time.perf_counter()
        report = await import_ndjson(context, chunks, actor="bench")
        elapsed = time.perf_counter() - started
    rate = report.total / elapsed
    verdict = "ok" if rate >= IMPORT_TARGET_PER_SECOND and report.failed == 0 else "BELOW TARGET"
    return (
        f"registry import: {report.total} records ({report.failed} failed) in {elapsed:.2f} s = "
        f"{rate:,.0f} records/s (target >= {IMPORT_TARGET_PER_SECOND:,}) {verdict}"
    )


def _import_figure(settings: Settings, sizes: Sizes) -> str:
    return asyncio.run(registry_import(settings, sizes.patients))


def _in_loop(figure: Callable[[Settings, Sizes], Coroutine[Any, Any, str]]) -> Callable[[Settings, Sizes], str]:
    """Figures written as coroutines get their own event loop, as the import figure always had."""

    def run(settings: Settings, sizes: Sizes) -> str:
        return asyncio.run(figure(settings, sizes))

    return run


FIGURES: dict[str, Callable[[Settings, Sizes], str]] = {
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
    parser.add_argument("--database-url", default=None, help="an empty database per figure (default: temp SQLite)")
    parser.add_argument(
        "--scale", choices=("default", "spec"), default="default", help="'spec': the SPEC §9 sizes (takes long)"
    )
    parser.add_argument("--patients", type=int, default=defaults.patients, help="registry size (import, intake)")
    parser.add_argument("--clients", type=int, default=defaults.intake_clients, help="intake: concurrent clients")
    parser.add_argument("--requests", type=int, default=defaults.intake_requests, help="intake: requests per phase")
    parser.add_argument("--seconds", type=float, default=defaults.intake_seconds, help="intake: time per phase")
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


def main() -> None:
    arguments = _arguments()
    sizes = _sizes(arguments)
    with tempfile.TemporaryDirectory() as folder:
        for name in arguments.figures or FIGURES:
            url = arguments.database_url or sqlite_url(Path(folder) / f"{name}.db")
            settings = Settings(data_dir=Path(folder), database_url=url, scheduler_enabled=False)
            print(FIGURES[name](settings, sizes), flush=True)


if __name__ == "__main__":
    main()
