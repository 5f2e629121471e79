"""The administration page (SPEC §15): registry import with its per-line report, users, tokens shown once,
token revocation — each change made through the services that audit it."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
from conftest import ADMIN, PRESCRIBER, PV_STAFF, Tokens
from litestar.testing import AsyncTestClient
from pages_client import csrf_token, sign_in, submit
from sqlalchemy import select

from pv_service.app import create_app
from pv_service.handlers.pages import FORM_OVERHEAD_BYTES
from pv_service.storage.database import Database
from pv_service.storage.models import AuditEntry

NEW_USER = "10000000082"


def ndjson(*records: dict[str, Any]) -> bytes:
    return b"\n".join(msgspec.json.encode(record) for record in records) + b"\n"


async def upload(client: AsyncTestClient[Any], content: bytes, name: str = "registry.ndjson") -> Any:
    shown = await client.get("/admin")
    return await client.post(
        "/admin",
        data={"_csrf_token": csrf_token(shown.text), "operation": "import"},
        files={"file": (name, content, "application/x-ndjson")},
        follow_redirects=False,
    )


async def audited(database: Database, action: str) -> list[AuditEntry]:
    async with database.read_session() as session:
        return list(await session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def cell(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found, element_id
    return found.group(1).strip()


async def test_the_admin_imports_an_ndjson_file_and_reads_the_per_line_report(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    await sign_in(client, registry.by_rpps[ADMIN])
    content = ndjson(
        {"type": "professional", "rpps": NEW_USER, "role": "prescriber", "name": "Dr D. Leroy"},
        {"type": "patient", "registry_id": "RC-000300", "birth_year": 1990, "sex": "F", "indication": "migraine",
         "inclusion_date": "2023-01-10", "reference_prescriber": NEW_USER, "city_doctor": None, "pharmacist": None,
         "registry_consent": True, "nir_consent": False, "legal_status": "adult"},
        {"type": "titration_step", "registry_id": "RC-000123", "date": "2022-05-10", "daily_thc_mg": 2.0,
         "daily_cbd_mg": 0.1},
    )  # fmt: skip
    response = await upload(client, content)
    assert response.status_code == 200, response.text
    html = response.text
    assert (cell(html, "report-total"), cell(html, "report-accepted"), cell(html, "report-failed")) == ("3", "2", "1")
    errors = re.search(r'<table id="report-errors">.*?</table>', html, re.S)
    assert errors
    row = re.search(
        r'<th scope="row" class="num">(\d+)</th><td><code>([^<]+)</code></td><td>([^<]+)</td>', errors.group(0)
    )
    assert row and row.group(1) == "2" and row.group(2) == "indication", errors.group(0)
    assert row.group(3).strip()  # a sentence, in French by default
    # The import went through the registry's own import, audited as the admin.
    summaries = [e.after for e in await audited(database, "registry.import") if e.actor == ADMIN]
    assert summaries == [{"total": 3, "accepted": 2, "unchanged": 0, "failed": 1}]


async def test_an_import_over_the_size_limit_is_refused_with_a_sentence(
    client: AsyncTestClient[Any], registry: Tokens, settings_with: Any
) -> None:
    async with AsyncTestClient(app=create_app(settings_with(import_max_bytes=64))) as small:
        await sign_in(small, registry.by_rpps[ADMIN])
        response = await upload(small, ndjson({"type": "professional", "rpps": NEW_USER, "role": "prescriber",
                                               "name": "Dr D. Leroy", "structure": "CHU de Brest"}))  # fmt: skip
        assert response.status_code == 413 and 'id="import-error"' in response.text


async def test_an_upload_beyond_the_import_limit_is_413_before_anyone_reads_it(
    registry: Tokens, settings_with: Any
) -> None:
    """Even signed out and without a CSRF token: the form is parsed by the CSRF check before any sign-in
    check, so the body's bound must hold before that."""
    oversized = b"x" * (64 + FORM_OVERHEAD_BYTES + 1)
    async with AsyncTestClient(app=create_app(settings_with(import_max_bytes=64))) as anonymous:
        response = await anonymous.post(
            "/admin", files={"file": ("big.ndjson", oversized, "application/x-ndjson")}, follow_redirects=False
        )
    assert response.status_code == 413


async def test_the_admin_creates_a_user_then_a_token_shown_once(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    await sign_in(client, registry.by_rpps[ADMIN])
    created = await submit(
        client,
        "/admin",
        "/admin",
        {"operation": "create_user", "rpps": NEW_USER, "role": "pv_staff", "name": "Mme E. Roux"},
    )
    assert created.status_code == 303 and created.headers["location"].startswith(f"/admin?created={NEW_USER}")
    listed = await client.get(created.headers["location"])
    assert (
        'id="user-created"' in listed.text and f'id="user-{NEW_USER}"' in listed.text and "Mme E. Roux" in listed.text
    )

    issued = await submit(client, "/admin", "/admin", {"operation": "create_token", "rpps": NEW_USER, "days": "30"})
    assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
    token = cell(issued.text, "new-token")
    assert token.startswith("pvt_")
    assert "il ne sera plus jamais affiché" in issued.text
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["role"] == "pv_staff"
    # Shown once: the next load of the page lists the token by its id, never its value.
    again = await client.get(f"/admin?tokens={NEW_USER}")
    assert token not in again.text and 'id="new-token"' not in again.text
    assert len(re.findall(r'<tr id="token-tok_', again.text)) == 1

    assert [e.entity_id for e in await audited(database, "user.create") if e.actor == ADMIN] == [NEW_USER]
    assert len([e for e in await audited(database, "token.create") if e.actor == ADMIN]) == 1


async def test_a_refused_user_is_said_beside_its_field_with_the_form_kept(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await sign_in(client, registry.by_rpps[ADMIN])
    response = await submit(
        client, "/admin", "/admin", {"operation": "create_user", "rpps": "12345678901", "role": "admin", "name": "X"}
    )
    assert response.status_code == 200
    field = re.search(r'<input id="user-rpps"[^>]*>', response.text)
    assert field and 'aria-invalid="true"' in field.group(0) and 'value="12345678901"' in field.group(0)
    assert 'id="rpps-error"' in response.text
    duplicate = await submit(
        client, "/admin", "/admin", {"operation": "create_user", "rpps": PRESCRIBER, "role": "admin", "name": "X"}
    )
    assert 'id="rpps-error"' in duplicate.text and PRESCRIBER in duplicate.text


async def test_the_admin_lists_and_revokes_a_users_token(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    await sign_in(client, registry.by_rpps[ADMIN])
    page = await client.get(f"/admin?tokens={PRESCRIBER}")
    ids = re.findall(r'name="token_id" value="(tok_[0-9a-f]+)"', page.text)
    assert len(ids) == 1
    revoked = await submit(
        client, f"/admin?tokens={PRESCRIBER}", "/admin", {"operation": "revoke_token", "token_id": ids[0]}
    )
    assert revoked.status_code == 303
    after = await client.get(revoked.headers["location"])
    assert 'id="token-revoked"' in after.text and f'name="token_id" value="{ids[0]}"' not in after.text
    refused = await client.get("/api/v1/me", headers=registry.headers(PRESCRIBER))
    assert refused.status_code == 401
    assert [e.entity_id for e in await audited(database, "token.revoke") if e.actor == ADMIN] == ids


@pytest.mark.parametrize("rpps", [PV_STAFF, PRESCRIBER])
async def test_the_administration_is_for_admins_only(client: AsyncTestClient[Any], registry: Tokens, rpps: str) -> None:
    await sign_in(client, registry.by_rpps[rpps])
    assert (await client.get("/admin")).status_code == 403
    login = await client.get("/login")
    posted = await client.post(
        "/admin",
        data={"_csrf_token": csrf_token(login.text), "operation": "create_user", "rpps": NEW_USER, "role": "admin",
              "name": "Intrus"},
    )  # fmt: skip
    assert posted.status_code == 403
