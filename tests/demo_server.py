"""``pv-service demo`` run as its users run it, in a process of its own: started, read, stopped."""

from __future__ import annotations

import queue
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROLES = ("prescriber", "pharmacist", "pv_staff", "admin")
START_SECONDS = 120.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class DemoServer:
    base_url: str
    sign_in_url: str
    tokens: dict[str, str]
    process: subprocess.Popen[str]
    log: Path

    def stderr_tail(self) -> str:
        return self.log.read_text()[-3000:]

    def wait_until_healthy(self, client: httpx.Client) -> httpx.Response:
        """The first answer of ``/health`` once the server listens."""
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert self.process.poll() is None, f"the demo exited; stderr:\n{self.stderr_tail()}"
            try:
                return client.get("/health")
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def _lines(stream: object) -> queue.Queue[str | None]:
    """The process's stdout line by line, read in a thread so that waiting for one can time out."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@contextmanager
def running_demo(
    executable: str | Path, *, port: int, env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> Iterator[DemoServer]:
    """The demo on 127.0.0.1:``port`` with what it printed: one line a role, the base URL, the sign-in URL."""
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [str(executable), "demo", "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        lines = _lines(process.stdout)
        deadline = time.monotonic() + START_SECONDS
        tokens: dict[str, str] = {}
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no base URL in time; stderr:\n{log.read_text()[-3000:]}") from None
            assert line is not None, f"the demo exited early; stderr:\n{log.read_text()[-3000:]}"
            if line.startswith("http://"):
                break
            role, _, token = line.partition("\t")
            assert role in ROLES and role not in tokens, line
            tokens[role] = token
        sign_in_url = lines.get(timeout=10)
        assert sign_in_url is not None, f"no sign-in URL after the base URL; stderr:\n{log.read_text()[-3000:]}"
        yield DemoServer(base_url=line, sign_in_url=sign_in_url, tokens=tokens, process=process, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
