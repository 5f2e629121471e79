"""Every state change is audited; concurrent writers on one database never get a 500."""

from __future__ import annotations

import asyncio

from conftest import PRESCRIBER, Tokens
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from pv_service.storage.database import Database
from pv_service.storage.models import AuditEntry, TitrationStep
from pv_service.users.service import UserError, create_user, issue_token, revoke_token


async def test_api_write_is_audited_with_its_actor_and_content(
    client: AsyncTestClient, registry: Tokens, database: Database
) -> None:
    body = {"date": "2022-05-06", "daily_thc_mg": 2.0, "daily_cbd_mg": 0.1}
    response = await client.post(
        "/api/v1/patients/RC-000123/titration-steps", json=body, headers=registry.headers(PRESCRIBER)
    )
    assert response.status_code == 201
    async with database.read_session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "titration_step.create"))
    assert entry is not None
    assert entry.actor == PRESCRIBER
    assert entry.entity_id == "RC-000123/2022-05-06"
    assert entry.after == {"daily_thc_mg": 2.0, "daily_cbd_mg": 0.1}
    assert entry.at.tzinfo is not None


async def test_refused_write_leaves_nothing_behind(
    client: AsyncTestClient, registry: Tokens, database: Database
) -> None:
    async with database.read_session() as session:
        before = await session.scalar(select(func.count()).select_from(AuditEntry))
    response = await client.post(
        "/api/v1/patients/RC-000123/prescriptions",
        json={"product": "OIL-T10", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.2, "start_date": "2022-06-01", "days": 60},
        headers=registry.headers(PRESCRIBER),
    )
    assert response.status_code == 422
    async with database.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == before


async def test_user_and_token_actions_are_audited(database: Database) -> None:
    async with database.session() as session, session.begin():
        await create_user(session, rpps="10000000082", role="pv_staff", name="Évaluateur", actor="cli")
        issued = await issue_token(session, rpps="10000000082", days=5, actor="cli")
        await revoke_token(session, issued.id, actor="cli")
    async with database.read_session() as session:
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["user.create", "token.create", "token.revoke"]


async def test_user_with_a_bad_rpps_or_role_is_refused(database: Database) -> None:
    async with database.session() as session, session.begin():
        for rpps, role in (("10000000083", "pv_staff"), ("10000000082", "auditor")):
            try:
                await create_user(session, rpps=rpps, role=role, name="X", actor="cli")
            except UserError as exc:
                assert exc.error.code == "invalid_value"
            else:
                raise AssertionError(f"{rpps}/{role} was accepted")


async def test_concurrent_writes_all_succeed_without_error(
    client: AsyncTestClient, registry: Tokens, database: Database
) -> None:
    headers = registry.headers(PRESCRIBER)

    async def post_step(day: int) -> int:
        body = {"date": f"2022-07-{day:02d}", "daily_thc_mg": 2.0, "daily_cbd_mg": 0.1}
        response = await client.post("/api/v1/patients/RC-000123/titration-steps", json=body, headers=headers)
        return response.status_code

    statuses = await asyncio.gather(*(post_step(day) for day in range(1, 25)))
    assert statuses == [201] * 24
    async with database.read_session() as session:
        count = await session.scalar(select(func.count()).select_from(TitrationStep))
    assert count == 25  # the imported step plus the 24 new ones
