"""SPEC §1: bearer tokens, 401 before 403 before 404, role guards."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from conftest import ADMIN, PHARMACIST, PRESCRIBER, PV_STAFF, Tokens
from litestar.testing import AsyncTestClient
from pages_client import sign_in
from report_bodies import report
from sqlalchemy import select, update

from pv_service.app import create_app
from pv_service.clock import utc_now
from pv_service.config import Settings
from pv_service.storage.database import Database
from pv_service.storage.models import Base, Token
from pv_service.users.service import hash_token, revoke_token


async def test_request_without_token_is_401_problem(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.get("/api/v1/patients")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["type"] and body["title"] and body["errors"] == []


async def test_unknown_token_is_401(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.get("/api/v1/patients", headers={"Authorization": "Bearer pvt_" + "A" * 43})
    assert response.status_code == 401


async def test_non_bearer_scheme_is_401(client: AsyncTestClient, registry: Tokens) -> None:
    token = registry.by_rpps[PRESCRIBER]
    response = await client.get("/api/v1/patients", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 401


async def test_valid_token_is_accepted(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.get("/api/v1/patients", headers=registry.headers(PRESCRIBER))
    assert response.status_code == 200


async def test_expired_token_is_401(client: AsyncTestClient, registry: Tokens, database: Database) -> None:
    token = registry.by_rpps[PRESCRIBER]
    async with database.session() as session, session.begin():
        await session.execute(
            update(Token)
            .where(Token.token_hash == hash_token(token))
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    response = await client.get("/api/v1/patients", headers=registry.headers(PRESCRIBER))
    assert response.status_code == 401


async def test_revoked_token_is_401(settings: Settings, registry: Tokens, database: Database) -> None:
    # Revoked as the command line does, in the database: an instance caching tokens sees it within its TTL
    # (tests/test_token_cache.py); this one looks every token up.
    token = registry.by_rpps[PHARMACIST]
    async with AsyncTestClient(app=create_app(replace(settings, token_cache_seconds=0))) as client:
        assert (await client.get("/api/v1/patients", headers=registry.headers(PHARMACIST))).status_code == 200
        async with database.session() as session, session.begin():
            await revoke_token(session, token, actor="test")
        response = await client.get("/api/v1/patients", headers=registry.headers(PHARMACIST))
    assert response.status_code == 401


async def test_tokens_are_stored_only_as_hashes_whatever_they_were_used_for(
    client: AsyncTestClient, registry: Tokens, database: Database
) -> None:
    filed = await client.post("/api/v1/reports", json=report(), headers=registry.headers(PRESCRIBER))
    assert filed.status_code == 201
    assert (await sign_in(client, registry.by_rpps[PV_STAFF])).status_code in (200, 303)
    async with database.session() as session, session.begin():
        await revoke_token(session, registry.by_rpps[PHARMACIST], actor="test")
    async with database.read_session() as session:
        stored = list(await session.scalars(select(Token.token_hash)))
        cells = [
            str(value) for table in Base.metadata.sorted_tables for row in (await session.execute(select(table))).all()
            for value in row
        ]  # fmt: skip
    assert stored and all(len(h) == 64 for h in stored)
    assert {hash_token(token) for token in registry.by_rpps.values()} <= set(stored)
    for token in registry.by_rpps.values():
        assert not any(token in cell for cell in cells)


async def test_role_not_allowed_is_403_even_for_unknown_patient(client: AsyncTestClient, registry: Tokens) -> None:
    body = {"date": "2022-06-01", "daily_thc_mg": 2.0, "daily_cbd_mg": 0.1}
    for rpps in (PHARMACIST, PV_STAFF, ADMIN):
        response = await client.post(
            "/api/v1/patients/RC-NOPE/titration-steps", json=body, headers=registry.headers(rpps)
        )
        assert response.status_code == 403, rpps


async def test_only_pharmacists_record_dispensations(client: AsyncTestClient, registry: Tokens) -> None:
    body = {"prescription_id": "RX-1", "date": "2022-05-10", "quantity": 5.0, "days_supply": 7}
    response = await client.post("/api/v1/dispensations", json=body, headers=registry.headers(PRESCRIBER))
    assert response.status_code == 403


async def test_only_admin_imports_registry(client: AsyncTestClient, registry: Tokens) -> None:
    for rpps in (PRESCRIBER, PHARMACIST, PV_STAFF):
        response = await client.post(
            "/api/v1/registry/imports",
            content=b"",
            headers={**registry.headers(rpps), "Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 403, rpps


async def test_me_tells_the_caller_their_rpps_name_and_role(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.get("/api/v1/me", headers=registry.headers(PV_STAFF))
    assert response.status_code == 200, response.text
    assert response.json() == {"rpps": PV_STAFF, "name": "Évaluatrice", "role": "pv_staff"}
    assert (await client.get("/api/v1/me")).status_code == 401
