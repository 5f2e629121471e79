"""Every page, in French and in English, on the demo's data: no serious or critical axe-core violation,
and a full-page screenshot of each in tests/browser/screenshots/ for people to look at."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from demo_server import DemoServer

from browser.conftest import Tab

pytestmark = pytest.mark.browser

LANGUAGES = ("fr", "en")


@pytest.fixture(scope="module")
def ids(demo: DemoServer) -> dict[str, str]:
    """A case of the demo's prescriber, a case for PV staff and a stored digest week, read from the API."""
    with httpx.Client(base_url=demo.base_url, timeout=10.0) as client:

        def read(role: str, path: str) -> Any:
            response = client.get(path, headers={"Authorization": f"Bearer {demo.tokens[role]}"})
            assert response.status_code == 200, response.text
            return response.json()

        own = read("prescriber", "/api/v1/reports")["items"]
        queue = read("pv_staff", "/api/v1/queue")["items"]
        digests = read("pv_staff", "/api/v1/digests")["items"]
    assert own and queue and digests, "the demo has cases, a queue and digests"
    return {"own_case": str(own[0]["id"]), "case": str(queue[0]["id"]), "week": digests[0]["week"]}


PAGES = [
    ("prescriber", "reports", "/reports"),
    ("prescriber", "report-new", "/reports/new"),
    ("prescriber", "report", "/reports/{own_case}"),
    ("pv_staff", "queue", "/queue"),
    ("pv_staff", "case", "/cases/{case}"),
    ("pv_staff", "digests", "/digests"),
    ("pv_staff", "digest", "/digests/{week}"),
    ("pv_staff", "anomalies", "/anomalies"),
    ("admin", "admin", "/admin"),
]


@pytest.fixture(scope="module")
def signed_in(browser: Any, demo: DemoServer) -> Iterator[Callable[[str], Tab]]:
    """One signed-in tab per role, kept for the module."""
    tabs: dict[str, Tab] = {}
    contexts = []

    def tab_of(role: str) -> Tab:
        if role not in tabs:
            context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            contexts.append(context)
            tabs[role] = Tab(context.new_page(), demo.base_url)
            tabs[role].sign_in(demo.tokens[role])
        return tabs[role]

    yield tab_of
    for context in contexts:
        context.close()


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("role", "name", "route"), PAGES)
def test_each_page_reads_well_for_axe_core_in_each_language(
    signed_in: Callable[[str], Tab], ids: dict[str, str], role: str, name: str, route: str, lang: str
) -> None:
    tab = signed_in(role)
    path = route.format(**ids)
    response = tab.page.goto(f"{tab.base_url}{path}?lang={lang}")
    assert response is not None and response.status == 200, f"{path}: {response and response.status}"
    assert tab.page.get_attribute("html", "lang") == lang
    assert tab.page.locator("h1").count() == 1
    tab.check(f"{name}-{lang}")
