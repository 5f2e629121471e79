"""bench/results.json: each figure's entry carries the keys the README documents, its verdict is the one its
printed line gives (a missed goal does not fail it, a missed target does), and the machine block says where
it ran. No benchmark is run here."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import POSTGRES_URL
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

BENCH = Path(__file__).resolve().parents[1] / "bench"
FIGURE_KEYS = {"figure", "value", "unit", "target", "reference", "size", "spec_size", "met", "measures", "details"}
MEASURE_KEYS = {"name", "value", "unit", "target", "reference", "goal", "met"}
MACHINE_KEYS = {"cores", "cpu_model", "python", "sqlite", "postgresql", "engine", "date"}


def _bench_module(name: str) -> ModuleType:
    """A file of bench/ as a module; the bench's files import one another by name, as when run as scripts."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _bench_module("run")


@pytest.fixture(scope="module")
def common() -> ModuleType:
    return _bench_module("common")


def digest_like(common: ModuleType, seconds: float) -> object:
    grouped = common.Reference("one grouped count by product", 0.05, "s")
    measures = (
        common.Measure("digest_seconds", seconds, "s", "<=", 10.0),
        common.Measure("ratio_to_grouped_count", seconds / 0.05, "×", "<=", 5.0, grouped),
    )
    return common.FigureResult(
        figure="digest",
        line="weekly digest …",
        size={"cases": 2000, "patients": 300},
        spec_size={"cases": 1_000_000, "patients": 100_000},
        measures=measures,
        details={"week": "2026-W48"},
    )


def test_a_figure_entry_has_the_headline_measure_on_top_and_every_measure_with_its_target(common: ModuleType) -> None:
    entry = common.figure_json(digest_like(common, 0.2))
    assert set(entry) == FIGURE_KEYS | {"line"}
    assert (entry["value"], entry["unit"], entry["target"]) == (0.2, "s", {"comparison": "<=", "value": 10.0})
    assert entry["reference"] is None
    assert [set(measure) for measure in entry["measures"]] == [MEASURE_KEYS, MEASURE_KEYS]
    ratio = entry["measures"][1]
    assert ratio["reference"] == {"what": "one grouped count by product", "value": 0.05, "unit": "s"}
    assert ratio["value"] == pytest.approx(4.0)
    assert ratio["met"] is True
    assert entry["met"] is True


def test_a_missed_target_fails_the_figure_and_a_missed_goal_does_not(common: ModuleType) -> None:
    slow = common.figure_json(digest_like(common, 0.5))
    assert [measure["met"] for measure in slow["measures"]] == [True, False]
    assert slow["met"] is False
    goal_missed = (
        common.Measure("ratio_to_bare_endpoint", 0.5, "×", ">=", 0.40),
        common.Measure("reports_per_second", 300.0, "reports/s", ">=", 1500.0, goal=True),
    )
    assert common.gates_met(goal_missed) is True
    assert common.gates_met((*goal_missed, common.Measure("errors", 1, "errors", "<=", 0))) is False


def test_results_json_holds_the_machine_and_each_figure_by_name(
    bench: ModuleType, common: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "results.json"
    bench.write_results(path, bench.machine(None), [digest_like(common, 0.2)])
    document = json.loads(path.read_text())
    assert set(document["machine"]) == MACHINE_KEYS
    assert (document["machine"]["engine"], document["machine"]["postgresql"]) == ("sqlite", None)
    assert document["machine"]["cores"] >= 1
    assert list(document["figures"]) == ["digest"]
    assert document["figures"]["digest"]["spec_size"] == {"cases": 1_000_000, "patients": 100_000}


def test_a_database_password_on_the_command_line_is_not_written(
    bench: ModuleType, common: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["run.py", "--postgres", "postgresql+asyncpg://pv:s3cret@db:5432/postgres"])
    path = tmp_path / "results.json"
    bench.write_results(path, bench.machine(None), [digest_like(common, 0.2)])
    written = path.read_text()
    assert "s3cret" not in written
    assert "postgresql+asyncpg://pv:***@db:5432/postgres" in written


def test_two_intake_instances_add_up_their_requests_and_keep_the_worse_percentiles(bench: ModuleType) -> None:
    intake = importlib.import_module("figure_intake")
    one = intake.LoadResult(100, 0, 2.0, 50.0, 10.0, 40.0, 0.3, [])
    other = intake.LoadResult(120, 1, 2.5, 48.0, 12.0, 35.0, 0.4, ["500 …"])
    both = intake.combined([one, other])
    assert (both.requests, both.errors, both.seconds, both.per_second) == (220, 1, 2.5, 88.0)
    assert (both.p50_ms, both.p99_ms, both.client_cpu, both.error_samples) == (12.0, 40.0, 0.4, ["500 …"])
    assert intake.combined([one]) == one


async def _database_exists(name: str) -> bool:
    assert POSTGRES_URL
    engine = create_async_engine(POSTGRES_URL)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name})
    finally:
        await engine.dispose()
    return bool(found)


def _create_use_and_drop(bench: ModuleType, server_url: str) -> tuple[str, bool, bool]:
    """The bench's own way, in a thread of its own (it runs its event loops as a script does)."""
    with bench.postgres_database(server_url, "queue") as url:
        name = str(make_url(url).database)
        existed = asyncio.run(_database_exists(name))
    return name, existed, asyncio.run(_database_exists(name))


@pytest.mark.postgres
async def test_each_figure_gets_a_postgresql_database_of_its_own_dropped_after(bench: ModuleType) -> None:
    assert POSTGRES_URL
    name, existed, exists_after = await asyncio.to_thread(_create_use_and_drop, bench, POSTGRES_URL)
    assert name.startswith("bench_queue_")
    assert (existed, exists_after) == (True, False)
    machine = await asyncio.to_thread(bench.machine, POSTGRES_URL)
    assert machine["engine"] == "postgresql"
    assert machine["postgresql"][0].isdigit()
