"""The pages in a real headless Chromium (Debian's ``chromium``, driven by Playwright), against servers
started as in production: ``pv-service run`` on a SQLite file set up with the command line, and the demo.

Every page a test visits can be checked by axe-core and photographed (French and English) into
``tests/browser/screenshots/``, which git ignores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import ADMIN, PHARMACIST, PRESCRIBER, PV_STAFF, registry_lines
from demo_server import DemoServer, free_port, running_demo
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
BIN = Path(__file__).resolve().parent.parent.parent / ".venv" / "bin"
PV_SERVICE = BIN / "pv-service"
START_SECONDS = 60.0



def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env |= {"PV_DATA_DIR": str(data_dir), "PV_SECRET_KEY": "browser-tests-secret", "PV_SCHEDULER_ENABLED": "false"}
    return env


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(PV_SERVICE), *args], env=env, input=stdin, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, f"pv-service {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class Server:
    base_url: str
    tokens: dict[str, str]


@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``pv-service run`` on a fresh SQLite file: the small registry imported and users made by the CLI."""
    folder = tmp_path_factory.mktemp("service")
    env = _clean_env(folder / "data")
    _cli(env, "db", "upgrade")
    registry = folder / "registry.ndjson"
    registry.write_text("".join(json.dumps(line) + "\n" for line in registry_lines()))
    _cli(env, "registry", "import", str(registry))
    _cli(env, "users", "create", "--rpps", PV_STAFF, "--role", "pv_staff", "--name", "Claire Évaluatrice")
    _cli(env, "users", "create", "--rpps", ADMIN, "--role", "admin", "--name", "Paul Opérateur")
    tokens = {
        role: _cli(env, "tokens", "create", "--rpps", rpps).strip()
        for role, rpps in (("prescriber", PRESCRIBER), ("pharmacist", PHARMACIST), ("pv_staff", PV_STAFF),
                           ("admin", ADMIN))
    }  # fmt: skip
    port = free_port()
    log = folder / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(PV_SERVICE), "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, process, log)
        yield Server(base_url, tokens)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_healthy(base_url: str, process: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        assert process.poll() is None, f"the server exited:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(base_url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the server did not answer in time:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``pv-service demo``: generated registry, a few hundred cases, digests and findings."""
    folder = tmp_path_factory.mktemp("demo")
    env = _clean_env(folder / "data")
    with running_demo(PV_SERVICE, port=free_port(), env=env, log=folder / "demo.log") as server:
        with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
            server.wait_until_healthy(client)
        yield server


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        # .ci/run installs Debian's chromium and sets PV_REQUIRE_BROWSER: there, a missing browser fails.
        if os.environ.get("PV_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
    yield chromium
    chromium.close()


@pytest.fixture(scope="package", autouse=True)
def screenshots() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


class Tab:
    """One browser tab of a user: signs in through the page, checks and photographs what it shows."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url

    def open(self, path: str) -> Page:
        self.page.goto(self.base_url + path)
        return self.page

    def sign_in(self, token: str) -> None:
        self.open("/login")
        self.page.get_by_label("Jeton d'accès").fill(token)
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")

    def check(self, name: str) -> None:
        """No serious or critical axe-core violation on the page; a full-page screenshot kept as ``name``."""
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        assert_accessible(self.page, name)


def assert_accessible(page: Page, name: str) -> None:
    results = Axe().run(page)
    grave = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    summary = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}" for v in grave
    ]
    assert not grave, f"{name}: axe-core violations:\n" + "\n".join(summary)


@pytest.fixture
def tab(browser: Browser, service: Server) -> Iterator[Tab]:
    context = browser.new_context(base_url=service.base_url, locale="fr-FR", viewport={"width": 1280, "height": 900})
    yield Tab(context.new_page(), service.base_url)
    context.close()


@pytest.fixture
def new_tab(browser: Browser) -> Iterator[Any]:
    """Tabs in fresh browser contexts (each its own cookies), closed after the test."""
    contexts = []

    def make(base_url: str) -> Tab:
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        contexts.append(context)
        return Tab(context.new_page(), base_url)

    yield make
    for context in contexts:
        context.close()
