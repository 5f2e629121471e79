"""The pages in a real headless Chromium (Debian's ``chromium``, driven by Playwright), against servers
started as in production: ``pv-service run`` on a SQLite file set up with the command line, and the demo.

Every page a test visits can be checked by axe-core and photographed (French and English) into
``tests/browser/screenshots/``, which git ignores.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from demo_server import DemoServer, free_port, running_demo
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from service_process import PV_SERVICE, ServiceProcess, service_env, set_up_registry

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


@dataclass(frozen=True)
class Server:
    base_url: str
    tokens: dict[str, str]


@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``pv-service run`` on a fresh SQLite file: the small registry imported and users made by the CLI."""
    folder = tmp_path_factory.mktemp("service")
    env = service_env(folder / "data", SECRET_KEY="browser-tests-secret")
    tokens = set_up_registry(env, folder)
    server = ServiceProcess(env, folder / "server.log").start()
    try:
        yield Server(server.base_url, tokens)
    finally:
        server.stop()


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``pv-service demo``: generated registry, a few hundred cases, digests and findings."""
    folder = tmp_path_factory.mktemp("demo")
    env = service_env(folder / "data", SECRET_KEY="browser-tests-secret")
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
