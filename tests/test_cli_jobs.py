"""SPEC §11, §12: ``pv-service jobs run`` and ``pv-service digest show`` through the real console script."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

from conftest import ndjson, registry_lines

from pv_service.clock import utc_now
from pv_service.jobs.periods import latest_complete

CLI = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "pv-service")


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env["PV_DATA_DIR"] = str(tmp_path)
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_each_job_runs_from_the_cli_once_per_period(tmp_path: Path) -> None:
    registry_file = tmp_path / "registry.ndjson"
    registry_file.write_bytes(ndjson(registry_lines()))
    assert run_cli(tmp_path, "registry", "import", str(registry_file)).returncode == 0
    day = (utc_now().date() - timedelta(days=2)).isoformat()
    week = latest_complete("week", utc_now().date()).key
    month = latest_complete("month", utc_now().date()).key
    for job, period in (("dose-crosscheck", day), ("titration-crosscheck", day), ("follow-up-reminders", day),
                        ("weekly-signal-digest", week), ("retention", month)):  # fmt: skip
        result = run_cli(tmp_path, "jobs", "run", job, "--period", period)
        assert result.returncode == 0, result.stderr
        assert f"job={job} period={period} status=succeeded" in result.stdout
    again = run_cli(tmp_path, "jobs", "run", "follow-up-reminders", "--period", day)
    assert again.returncode == 0 and "already done" in again.stdout
    shown = run_cli(tmp_path, "digest", "show", week)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"Weekly signal digest {week}")
    assert run_cli(tmp_path, "digest", "show", "2026-W7").returncode == 2
    assert run_cli(tmp_path, "jobs", "run", "no-such-job").returncode == 1
