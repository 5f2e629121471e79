"""End to end, what ``make run`` does: ``pv-service demo`` serves generated data and prints working tokens."""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx

PV_SERVICE = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "pv-service")
ROLES = ("prescriber", "pharmacist", "pv_staff", "admin")
TOKEN_RE = re.compile(r"^pvt_[A-Za-z0-9_-]{43}$")
START_TIMEOUT = 90.0
HEALTH_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def line_reader(stream) -> queue.Queue[str | None]:
    """Lines of the process's stdout, read in a thread so that waiting for one can time out."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def next_line(lines: queue.Queue[str | None], deadline: float, log: Path) -> str:
    try:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
    except queue.Empty:
        raise AssertionError(f"no output in time; stderr:\n{log.read_text()[-3000:]}") from None
    assert line is not None, f"the demo exited early; stderr:\n{log.read_text()[-3000:]}"
    return line


def test_demo_serves_generated_registry_and_prints_working_tokens(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env["PV_DATA_DIR"] = str(tmp_path / "data")
    log = tmp_path / "demo.stderr"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [PV_SERVICE, "demo", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert process.stdout is not None
        lines = line_reader(process.stdout)
        deadline = time.monotonic() + START_TIMEOUT

        tokens: dict[str, str] = {}
        for _ in ROLES:
            role, _, token = next_line(lines, deadline, log).partition("\t")
            assert role in ROLES and role not in tokens, role
            assert TOKEN_RE.match(token), token
            tokens[role] = token
        assert set(tokens) == set(ROLES)
        assert len(set(tokens.values())) == len(ROLES)
        base_url = next_line(lines, deadline, log)
        assert base_url == f"http://127.0.0.1:{port}"

        with httpx.Client(base_url=base_url, timeout=10.0) as client:
            health_deadline = time.monotonic() + HEALTH_TIMEOUT
            health: httpx.Response | None = None
            while time.monotonic() < health_deadline:
                assert process.poll() is None, f"the demo exited; stderr:\n{log.read_text()[-3000:]}"
                try:
                    health = client.get("/health")
                except httpx.TransportError:
                    health = None
                if health is not None and health.status_code == 200:
                    break
                time.sleep(0.5)
            assert health is not None and health.status_code == 200, health
            assert health.json() == {"status": "ok", "database": "ok", "scheduler": "running"}

            def patients(token: str) -> httpx.Response:
                return client.get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"})

            mine = patients(tokens["prescriber"])
            assert mine.status_code == 200, mine.text
            assert isinstance(mine.json()["items"], list) and mine.json()["items"], mine.text

            staff = patients(tokens["pv_staff"])
            assert staff.status_code == 200, staff.text
            assert staff.json()["items"], staff.text

            made_up = patients("pvt_" + "A" * 43)
            assert made_up.status_code == 401, made_up.text
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
