"""Signing in and out, the language switch and CSRF, in the browser."""

from __future__ import annotations

import httpx
import pytest

from browser.conftest import Server, Tab

pytestmark = pytest.mark.browser


def test_a_user_signs_in_with_the_keyboard_and_out_again(tab: Tab, service: Server) -> None:
    page = tab.open("/")
    assert page.url.endswith("/login")
    tab.check("login-fr")
    page.keyboard.press("Tab")  # the skip link first
    page.keyboard.press("Tab")
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "token":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "token"
    page.keyboard.type(service.tokens["pv_staff"])
    page.keyboard.press("Enter")
    page.wait_for_url("**/queue")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/login")
    assert tab.open("/").url.endswith("/login")


def test_a_bad_token_is_told_beside_the_field(tab: Tab) -> None:
    tab.sign_in("pvt_not-a-token")
    page = tab.page
    assert page.url.endswith("/login")
    assert page.get_by_role("alert").is_visible()
    assert page.get_by_label("Jeton d'accès").get_attribute("aria-invalid") == "true"
    tab.check("login-error-fr")


def test_the_language_switch_changes_the_labels_and_is_remembered(tab: Tab) -> None:
    page = tab.open("/login")
    assert page.get_attribute("html", "lang") == "fr"
    with page.expect_navigation():
        page.get_by_role("link", name="English").click()
    assert page.get_attribute("html", "lang") == "en"
    assert page.get_by_label("Access token").is_visible()
    tab.check("login-en")
    tab.open("/login")
    assert page.get_attribute("html", "lang") == "en"
    with page.expect_navigation():
        page.get_by_role("link", name="Français").click()
    assert page.get_by_label("Jeton d'accès").is_visible()


def test_a_post_without_the_csrf_token_is_refused(service: Server) -> None:
    with httpx.Client(base_url=service.base_url) as client:
        client.get("/login")
        response = client.post("/login", data={"token": service.tokens["pv_staff"]})
    assert response.status_code == 403
