"""What every figure shares: the sizes it runs at, the service context it measures through, statistics, and
the result it returns (``FigureResult``: its one printed line and its entry in results.json), so that all
figures read alike and judge alike."""

from __future__ import annotations

import contextlib
import cProfile
import math
import pstats
import resource
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from pv_service.config import Settings
from pv_service.context import ServiceContext

BENCH_DIR = Path(__file__).resolve().parent
T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    """How big each figure runs; the defaults keep a figure under about three minutes on two cores."""

    patients: int = 2000
    intake_clients: int = 32
    intake_requests: int = 3000
    intake_seconds: float = 30.0
    intake_warmup: int = 200
    queue_cases: int = 100_000
    digest_cases: int = 200_000
    digest_patients: int = 20_000
    dispensations: int = 300_000
    intake_instances: int = 1
    profile_dir: Path | None = None


# SPEC §9: the sizes the targets are stated at.
SPEC_SIZES = {
    "queue_cases": 1_000_000,
    "digest_cases": 1_000_000,
    "digest_patients": 100_000,
    "dispensations": 1_000_000,
}
SMALL_DISPENSATIONS = 100_000


def verdict(ok: bool) -> str:
    return "ok" if ok else "BELOW TARGET"


@dataclass(frozen=True)
class Reference:
    """What a ratio is taken against, measured in the same run (the bare endpoint, the one grouped count)."""

    what: str
    value: float
    unit: str


@dataclass(frozen=True)
class Measure:
    """One measured value and its SPEC §9 target. A goal is reported but does not decide the verdict."""

    name: str
    value: float
    unit: str
    comparison: Literal["<=", ">="]
    target: float
    reference: Reference | None = None
    goal: bool = False

    @property
    def met(self) -> bool:
        return self.value <= self.target if self.comparison == "<=" else self.value >= self.target


def gates_met(measures: Sequence[Measure]) -> bool:
    """The figure's verdict: every target met; goals aside."""
    return all(measure.met for measure in measures if not measure.goal)


@dataclass(frozen=True)
class FigureResult:
    """What a figure returns: its printed line and, from the same measures, its entry in results.json.

    ``measures[0]`` is the figure's headline value; ``size`` is what was measured and ``spec_size`` the
    size SPEC §9 states the target at (None where it states none).
    """

    figure: str
    line: str
    size: dict[str, int]
    spec_size: dict[str, int] | None
    measures: tuple[Measure, ...]
    details: dict[str, float | int | str | bool | None]

    @property
    def met(self) -> bool:
        return gates_met(self.measures)


def measure_json(measure: Measure) -> dict[str, Any]:
    reference = measure.reference
    return {
        "name": measure.name,
        "value": measure.value,
        "unit": measure.unit,
        "target": {"comparison": measure.comparison, "value": measure.target},
        "reference": None if reference is None else asdict(reference),
        "goal": measure.goal,
        "met": measure.met,
    }


def figure_json(result: FigureResult) -> dict[str, Any]:
    """A figure's entry in results.json: the headline measure's fields at the top, every measure below."""
    measures = [measure_json(measure) for measure in result.measures]
    headline = {key: measures[0][key] for key in ("value", "unit", "target", "reference")}
    return {
        "figure": result.figure,
        **headline,
        "size": result.size,
        "spec_size": result.spec_size,
        "met": result.met,
        "measures": measures,
        "details": result.details,
        "line": result.line,
    }


def at_size(measured: int, spec: int) -> str:
    """The size measured, with the SPEC size beside it when they differ, so a scaled run says so."""
    return f"{measured:,}" if measured == spec else f"{measured:,} (SPEC {spec:,})"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (a measured value, never an interpolation): p99 of 200 is the 198th."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _status_mb(field: str) -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    return None


def rss_mb() -> float:
    """Resident set now."""
    current = _status_mb("VmRSS")
    return current if current is not None else peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set of this process since ``reset_peak_rss``.

    Linux's ``ru_maxrss`` is no use in a subprocess: exec carries the parent's high-water mark over, so a
    probe started by a bench that has just written a million rows starts with the bench's peak. VmHWM
    belongs to the process's own memory map; ``ru_maxrss`` (KiB) is the fallback elsewhere.
    """
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Bring the peak down to the current RSS (Linux ≥ 4.0), so the next peak is the run's own."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


async def open_context(settings: Settings, *, migrate: bool = True) -> ServiceContext:
    """The context built as ``create_app`` builds it, started (migrated unless ``migrate`` is False)."""
    context = ServiceContext.from_settings(replace(settings, migrate_on_start=migrate))
    await context.start()
    return context


@dataclass(frozen=True)
class Took:
    """Wall-clock seconds (what the targets are in) and this process's CPU seconds, all threads, SQLite's
    included: on a shared machine the CPU time tells the work done from the time spent waiting for a core."""

    wall: float
    cpu: float

    def __add__(self, other: Took) -> Took:
        return Took(self.wall + other.wall, self.cpu + other.cpu)


async def timed(call: Callable[[], Awaitable[T]]) -> tuple[Took, T]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = await call()
    return Took(time.perf_counter() - wall, time.process_time() - cpu), result


async def profiled(path: Path, call: Callable[[], Awaitable[Any]], *, times: int = 1) -> None:
    """Run ``call`` under cProfile and keep the stats and a readable top list beside them.

    Only the event loop's thread is seen: SQLite work done in aiosqlite's thread shows up as time
    waiting in the loop's ``select``.
    """
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(times):
        await call()
    profile.disable()
    write_profile(profile, path)


def write_profile(profile: cProfile.Profile, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile.dump_stats(str(path.with_suffix(".pstats")))
    with path.with_suffix(".txt").open("w", encoding="utf-8") as summary:
        stats = pstats.Stats(profile, stream=summary).strip_dirs()
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(30)
