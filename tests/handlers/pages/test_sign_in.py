"""Sign-in, sessions, CSRF and the language of the pages (SPEC §15, Pages)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ADMIN, PHARMACIST, PRESCRIBER, PV_STAFF, Tokens
from litestar.testing import AsyncTestClient
from pages_client import csrf_token, sign_in, submit

from pv_service.handlers.pages.web import IDLE_SECONDS, SESSION_COOKIE
from pv_service.storage.database import Database
from pv_service.users.service import revoke_token


async def test_signed_out_home_sends_to_the_sign_in_page(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


@pytest.mark.parametrize(
    ("rpps", "home"), [(PRESCRIBER, "/reports"), (PHARMACIST, "/reports"), (PV_STAFF, "/queue"), (ADMIN, "/admin")]
)
async def test_a_good_token_opens_a_session_and_lands_on_the_roles_home(
    client: AsyncTestClient[Any], registry: Tokens, rpps: str, home: str
) -> None:
    response = await sign_in(client, registry.by_rpps[rpps])
    assert response.status_code == 303 and response.headers["location"] == home
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and f"Max-Age={IDLE_SECONDS}" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS the cookie is Secure
    again = await client.get("/", follow_redirects=False)
    assert again.headers["location"] == home


async def test_a_bad_token_shows_an_error_and_opens_no_session(client: AsyncTestClient[Any], registry: Tokens) -> None:
    response = await sign_in(client, "pvt_not-a-token")
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.text and 'role="alert"' in response.text
    assert not any(c.startswith(SESSION_COOKIE + "=") for c in response.headers.get_list("set-cookie"))
    assert (await client.get("/", follow_redirects=False)).headers["location"] == "/login"


async def test_a_post_without_its_csrf_token_is_refused(client: AsyncTestClient[Any], registry: Tokens) -> None:
    await client.get("/login")
    response = await client.post("/login", data={"token": registry.by_rpps[PRESCRIBER]})
    assert response.status_code == 403
    assert (await client.get("/", follow_redirects=False)).headers["location"] == "/login"


async def test_sign_out_ends_the_session(client: AsyncTestClient[Any], registry: Tokens) -> None:
    await sign_in(client, registry.by_rpps[PV_STAFF])
    page = await client.get("/login")
    out = await client.post("/logout", data={"_csrf_token": csrf_token(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await client.get("/", follow_redirects=False)).headers["location"] == "/login"


async def test_a_revoked_token_ends_its_session_at_the_next_page(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    assert (await client.get("/", follow_redirects=False)).headers["location"] == "/reports"
    async with database.session() as session, session.begin():
        await revoke_token(session, registry.by_rpps[PRESCRIBER], actor=ADMIN)
    assert (await client.get("/", follow_redirects=False)).headers["location"] == "/login"


async def test_a_signed_in_page_of_another_role_is_403(client: AsyncTestClient[Any], registry: Tokens) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    response = await client.get("/queue")
    assert response.status_code == 403 and response.headers["content-type"].startswith("text/html")


async def test_a_page_asked_signed_out_goes_to_sign_in_and_back(client: AsyncTestClient[Any], registry: Tokens) -> None:
    response = await client.get("/queue?state=received", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/queue%3Fstate%3Dreceived"
    page = await client.get(response.headers["location"])
    back = await client.post(
        "/login",
        data={"token": registry.by_rpps[PV_STAFF], "next": "/queue?state=received", "_csrf_token": csrf_token(page.text)},  # noqa: E501
        follow_redirects=False,
    )
    assert back.headers["location"] == "/queue?state=received"


async def test_sign_in_never_sends_to_another_site(client: AsyncTestClient[Any], registry: Tokens) -> None:
    response = await submit(
        client, "/login", "/login", {"token": registry.by_rpps[PV_STAFF], "next": "//evil.example/"}
    )
    assert response.headers["location"] == "/queue"


async def test_pages_are_french_by_default_and_english_on_lang_en_remembered(client: AsyncTestClient[Any]) -> None:
    french = await client.get("/login")
    assert '<html lang="fr">' in french.text and "Se connecter" in french.text
    english = await client.get("/login?lang=en")
    assert '<html lang="en">' in english.text and "Sign in" in english.text
    remembered = await client.get("/login")
    assert '<html lang="en">' in remembered.text
    back = await client.get("/login?lang=fr")
    assert '<html lang="fr">' in back.text


async def test_the_api_takes_no_session_cookie(client: AsyncTestClient[Any], registry: Tokens) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    assert (await client.get("/api/v1/me")).status_code == 401
