"""The main flows in the browser, as their people go through them (issue 10): a prescriber files a report
and answers a follow-up request; PV staff triage, assess, forward and close it; the digest and anomalies
pages show what the jobs found; a second tab's stale action is told."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from browser.conftest import Server, Tab

pytestmark = pytest.mark.browser

CASE_NUMBER = re.compile(r"PV-\d{4}-\d{6}")


def field(page: Page, name: str) -> object:
    return page.locator(f'[name="{name}"]')


def submit_report(page: Page) -> None:
    with page.expect_navigation():
        page.locator('main form button[type="submit"]:not([name="add_reaction"])').last.click()


def error_of(page: Page, name: str) -> str:
    """The message a field in error points to with aria-describedby."""
    element = page.locator(f'[name="{name}"]')
    expect(element).to_have_attribute("aria-invalid", "true")
    described = element.get_attribute("aria-describedby") or ""
    texts = [page.locator(f"#{ident}").inner_text() for ident in described.split()]
    return " ".join(texts).strip()


def act(page: Page, action: str, **fields: str) -> None:
    """Fill the action's form on the case page and press its button (name="action", value=action)."""
    button = page.locator(f'button[name="action"][value="{action}"]')
    form = button.locator("xpath=ancestor::form")
    for name, value in fields.items():
        control = form.locator(f'[name="{name}"]')
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    with page.expect_navigation():
        button.click()


def test_a_report_goes_from_the_prescriber_through_triage_to_closing(
    tab: Tab, new_tab: object, service: Server
) -> None:
    # The prescriber files a report with two mistakes.
    tab.sign_in(service.tokens["prescriber"])
    page = tab.open("/reports/new")
    tab.check("flow-report-new-fr")
    field(page, "patient.registry_id").select_option("RC-000123")
    field(page, "suspect_product.code").select_option("OIL-T10")
    field(page, "reactions[0].text").fill("Somnolence marquée avec chute")
    field(page, "reactions[0].onset_date").fill("2031-01-10")  # in the future
    field(page, "reactions[0].seriousness.hospitalisation").check()
    field(page, "date_of_death").fill("2022-06-01")  # a death date, and nobody died
    submit_report(page)
    assert error_of(page, "reactions[0].onset_date")
    assert error_of(page, "date_of_death")
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    assert summary.locator("a").count() >= 2
    expect(field(page, "reactions[0].text")).to_have_value("Somnolence marquée avec chute")
    tab.check("flow-report-errors-fr")

    # ... corrects them and gets a case number and what is still missing.
    field(page, "reactions[0].onset_date").fill("2022-06-01")
    field(page, "date_of_death").fill("")
    submit_report(page)
    confirmation = page.locator("main").inner_text()
    found = CASE_NUMBER.search(confirmation)
    assert found, confirmation
    case_number = found.group(0)
    assert "Poids" in confirmation  # a recommended field left empty is named by its label
    tab.check("flow-report-confirmation-fr")

    # PV staff find it at the top of the queue and triage it.
    staff = new_tab(service.base_url)  # type: ignore[operator]
    staff.sign_in(service.tokens["pv_staff"])
    queue = staff.open("/queue")
    first = queue.locator("main table tbody tr").first
    expect(first).to_contain_text(case_number)
    with queue.expect_navigation():
        first.get_by_role("link", name=case_number).click()
    case_url = queue.url
    act(queue, "start")
    act(queue, "code", reaction="0", code="somnolence")
    act(queue, "assess", reaction="0", chronology="C2", semiology="S2")
    expect(queue.locator("main")).to_contain_text("I")
    assert re.search(r"\bI[0-4]\b", queue.locator("main").inner_text())
    staff.check("flow-case-assessed-fr")
    act(queue, "request_follow_up", message="Pouvez-vous préciser le poids et l'évolution ?")

    # The prescriber answers the follow-up request.
    reports = tab.open("/reports")
    expect(reports.locator("main")).to_contain_text(case_number)
    expect(reports.locator("main")).to_contain_text("Pouvez-vous préciser")
    with reports.expect_navigation():
        reports.get_by_role("link", name=case_number).click()
    expect(field(reports, "reactions[0].text")).to_have_value("Somnolence marquée avec chute")
    field(reports, "patient.weight_kg").fill("72")
    field(reports, "reactions[0].outcome").select_option("recovered")
    with reports.expect_navigation():
        reports.locator('form[action$="/follow-up"] button[type="submit"]:not([name="add_reaction"])').last.click()
    expect(reports.locator("main")).to_contain_text(case_number)

    # PV staff forward and close it.
    queue.goto(case_url)
    if queue.locator('button[name="action"][value="start"]').count():
        act(queue, "start")
    if not queue.locator('button[name="action"][value="close"]').count():
        act(queue, "assess", reaction="0", who_umc="possible")
    act(queue, "forward", destination="crpv")
    act(queue, "close", reason="Évaluation terminée")
    expect(queue.locator("main")).to_contain_text(case_number)
    case_id = case_url.rstrip("/").split("/")[-1].split("?")[0]
    with httpx.Client(base_url=service.base_url) as client:
        headers = {"Authorization": f"Bearer {service.tokens['pv_staff']}"}
        trail = client.get(f"/api/v1/reports/{case_id}/audit?limit=200", headers=headers).json()["items"]
        case = client.get(f"/api/v1/reports/{case_id}", headers=headers).json()
    assert case["state"] == "closed" and case["forwarded_at"], case
    audited = iter(item["action"] for item in trail)
    # Each action done through the page is in the audit trail, in order.
    for action in ("case.start", "case.code", "case.assess", "case.request_follow_up", "case.forward", "case.close"):
        assert action in audited, (action, [item["action"] for item in trail])
    staff.check("flow-case-closed-fr")


def test_a_second_tabs_stale_action_is_told_with_the_fresh_case(new_tab: object, service: Server) -> None:
    with httpx.Client(base_url=service.base_url) as client:
        body = {
            "patient": {"registry_id": "RC-000123"},
            "suspect_product": {"code": "OIL-T10"},
            "reactions": [{"text": "Vertiges", "onset_date": "2022-06-02"}],
        }
        created = client.post(
            "/api/v1/reports", json=body, headers={"Authorization": f"Bearer {service.tokens['prescriber']}"}
        )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    first, second = new_tab(service.base_url), new_tab(service.base_url)  # type: ignore[operator]
    for tab in (first, second):
        tab.sign_in(service.tokens["pv_staff"])
        tab.open(f"/cases/{case_id}")
    act(first.page, "start")
    act(second.page, "start")
    expect(second.page.locator("main")).to_contain_text("modifié depuis")
    # The fresh case is shown: it is in triage now, so "start" is no longer offered.
    expect(second.page.locator('button[name="action"][value="start"]')).to_have_count(0)
    second.check("flow-stale-action-fr")


def test_the_digest_page_draws_its_charts_and_the_anomalies_page_lists_findings(
    new_tab: object, demo: object
) -> None:
    tab = new_tab(demo.base_url)  # type: ignore[attr-defined,operator]
    tab.sign_in(demo.tokens["pv_staff"])  # type: ignore[attr-defined]
    digests = tab.open("/digests")
    with digests.expect_navigation():
        digests.locator("main a[href^='/digests/']").first.click()
    charts = digests.locator("main svg[role='img']")
    assert charts.count() >= 4, "cases per week, priority, indication and product, the forest plot"
    for index in range(charts.count()):
        assert charts.nth(index).locator(":scope > title").count() == 1, "each chart has its own title"
    anomalies = tab.open("/anomalies")
    rows = anomalies.locator("main table tbody tr")
    assert rows.count() >= 1
    expect(rows.first.locator("a[href^='/cases/'], a[href*='patient']").first).to_be_visible()


def test_every_control_of_the_report_form_is_reached_with_the_keyboard(tab: Tab, service: Server) -> None:
    tab.sign_in(service.tokens["prescriber"])
    page = tab.open("/reports/new")
    # A radio group is one stop of the Tab key: its first radio stands for it.
    controls = page.evaluate(
        """() => {
            const all = [...document.querySelectorAll(
                'main input:not([type=hidden]), main select, main textarea, main button')];
            const seen = new Set();
            return all.filter(e => !e.disabled).filter(e => {
                if (e.type !== 'radio') return true;
                if (seen.has(e.name)) return false;
                seen.add(e.name); return true;
            }).map(e => e.type === 'radio' ? e.name : (e.id || e.name));
        }"""
    )
    reached: set[str] = set()
    for _ in range(len(controls) + 40):
        page.keyboard.press("Tab")
        reached.add(
            page.evaluate(
                "(e => e.type === 'radio' ? e.name : (e.id || e.name || ''))(document.activeElement)"
            )
        )
    missing = [c for c in controls if c not in reached]
    assert not missing, f"not reachable with Tab: {missing}"
