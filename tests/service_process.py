"""``pv-service`` run as in production, in processes of its own: the command line to set a database up, and
``pv-service run`` (uvicorn) started, waited for, killed and restarted.

The environment starts from this process's own without any ``PV_*`` variable, so that a test states every
setting the service runs with.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
from conftest import ADMIN, PHARMACIST, PRESCRIBER, PV_STAFF, registry_lines
from demo_server import free_port

BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"
PV_SERVICE = BIN / "pv-service"
START_SECONDS = 60.0


def service_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment without its ``PV_*`` variables, plus the data folder and ``settings``
    (``PV_`` names without the prefix, e.g. ``DATABASE_URL="..."``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env |= {"PV_DATA_DIR": str(data_dir), "PV_SECRET_KEY": "service-process-tests", "PV_SCHEDULER_ENABLED": "false"}
    env |= {f"PV_{name}": value for name, value in settings.items()}
    return env


def cli(env: Mapping[str, str], *args: str, stdin: str | None = None, timeout: float = 120) -> str:
    """``pv-service ARGS``'s standard output; fails the test when it exits with an error."""
    done = subprocess.run(
        [str(PV_SERVICE), *args], env=dict(env), input=stdin, capture_output=True, text=True, check=False,
        timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, f"pv-service {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def set_up_registry(
    env: Mapping[str, str], folder: Path, lines: Iterable[dict[str, Any]] | None = None
) -> dict[str, str]:
    """Migrate, import the small test registry (or ``lines``), create the staff users, and issue a token per
    role, all by the command line; returns the tokens by role."""
    cli(env, "db", "upgrade")
    registry = folder / "registry.ndjson"
    registry.write_text("".join(json.dumps(line) + "\n" for line in (registry_lines() if lines is None else lines)))
    cli(env, "registry", "import", str(registry))
    cli(env, "users", "create", "--rpps", PV_STAFF, "--role", "pv_staff", "--name", "Claire Évaluatrice")
    cli(env, "users", "create", "--rpps", ADMIN, "--role", "admin", "--name", "Paul Opérateur")
    roles = (("prescriber", PRESCRIBER), ("pharmacist", PHARMACIST), ("pv_staff", PV_STAFF), ("admin", ADMIN))
    return {role: cli(env, "tokens", "create", "--rpps", rpps).strip() for role, rpps in roles}


class ServiceProcess:
    """One ``pv-service run`` process on a port of its own; ``start`` again after ``kill`` restarts it on the
    same port and database, its output appended to the same log."""

    def __init__(self, env: Mapping[str, str], log: Path, *, port: int | None = None) -> None:
        self.env = dict(env)
        self.log = log
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> ServiceProcess:
        assert self.process is None or self.process.poll() is not None, "the service is already running"
        with self.log.open("a") as output:
            self.process = subprocess.Popen(
                [str(PV_SERVICE), "run", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_until_healthy()
        return self

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_until_healthy(self, seconds: float = START_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while True:
            assert self.running(), f"the service exited:\n{self.log_tail()}"
            try:
                if httpx.get(self.base_url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the service did not answer in time:\n{self.log_tail()}"
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown code runs."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, as a deployment would, then SIGKILL if it does not exit in time."""
        if not self.running():
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
