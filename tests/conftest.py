"""Fixtures: a real database per backend (SQLite file always, PostgreSQL when PV_TEST_POSTGRES_URL is set),
migrated once per session and emptied between tests, and an app served through Litestar's test client."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from log_scan import collected_log_lines, leaks, log_files
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from pv_service.app import create_app
from pv_service.config import Settings, sqlite_url
from pv_service.context import open_context
from pv_service.digests import counts
from pv_service.registry.schemas import ImportReport
from pv_service.registry.service import import_ndjson
from pv_service.storage.database import Database
from pv_service.storage.migrate import upgrade
from pv_service.storage.models import Base, Case
from pv_service.users.service import create_user, issue_token

POSTGRES_URL = os.environ.get("PV_TEST_POSTGRES_URL")


@pytest.fixture(scope="session", autouse=True)
def no_personal_data_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fails the run when a log line of any test, or of a service process it started, holds a NIR, a phone
    number, an e-mail address or a token."""
    with collected_log_lines() as lines:
        yield
    found = leaks((f"log record {number}", line) for number, line in enumerate(lines, 1))
    found += leaks(log_files(tmp_path_factory.getbasetemp()))
    assert not found, "personal data in the logs:\n" + "\n".join(found[:20])


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="PV_TEST_POSTGRES_URL is not set")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


async def _create_postgres_database(base_url: str) -> str:
    name = f"pv_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(base_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
async def migrated_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """One migrated database per backend for the whole session."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path_factory.mktemp("db") / "pv_service.db")
    else:
        assert POSTGRES_URL
        url = await _create_postgres_database(POSTGRES_URL)
    database = Database(url)
    await upgrade(database)
    await database.dispose()
    yield url
    if request.param == "postgresql":
        assert POSTGRES_URL
        await _drop_postgres_database(POSTGRES_URL, url)


async def _empty_all_tables(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with database.session() as session, session.begin():
        if database.dialect == "postgresql":
            await session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await session.execute(text(f"DELETE FROM {table}"))


async def digest_counts_drift(url: str, zone: ZoneInfo) -> list[str]:
    """How the digest's kept counts differ from a recomputation from the cases, and the cases whose week of
    receipt is not the local Monday of their receipt: nothing, when every write kept them."""
    database = Database(url)
    try:
        async with database.read_session() as session:
            stored = await counts.stored_counts(session)
            expected = await counts.recomputed_counts(session)
            weeks = list(await session.execute(select(Case.id, Case.received_at, Case.received_week)))
    finally:
        await database.dispose()
    drift = [
        f"{key}: kept {stored.get(key, 0)}, recomputed {expected.get(key, 0)}"
        for key in sorted(stored.keys() | expected.keys())
        if stored.get(key, 0) != expected.get(key, 0)
    ]
    drift += [
        f"case {case_id} received {received_at} is filed under the week of {week}"
        for case_id, received_at, week in weeks
        if week != counts.local_monday(received_at, zone)
    ]
    return drift


async def date_receipt_back(database: Database, ids: list[int], when: datetime, zone: ZoneInfo) -> None:
    """The cases as if received at ``when``: their week of receipt, and the digest's counts, move with it."""
    async with database.session() as session, session.begin(), counts.recounting(session, ids):
        await session.execute(
            update(Case).where(Case.id.in_(ids)).values(received_at=when, received_week=counts.local_monday(when, zone))
        )


async def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    """Wait, letting other tasks run, until ``condition`` holds; fail after ``seconds``."""
    for _ in range(int(seconds / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


@pytest.fixture
async def settings(migrated_url: str, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings on the emptied database. After the test, the digest's kept counts must equal a recomputation
    from the cases: every write path the suite takes proves it keeps them."""
    # The session fixture migrated the database once; apps need not check again at every start.
    base = Settings(
        data_dir=tmp_path, database_url=migrated_url, scheduler_enabled=False, secret_key="test", migrate_on_start=False
    )
    database = Database(migrated_url)
    await _empty_all_tables(database)
    await database.dispose()
    yield base
    drift = await digest_counts_drift(migrated_url, base.zone)
    assert not drift, "the digest's counts drifted from the cases:\n" + "\n".join(drift[:20])


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings.database_url)
    yield db
    await db.dispose()


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


# --- registry data and users --------------------------------------------------------------------

PRESCRIBER = "10000000025"
OTHER_PRESCRIBER = "10000000033"
CITY_DOCTOR = "10000000041"
PHARMACIST = "10000000017"
OTHER_PHARMACIST = "10000000058"
PV_STAFF = "10000000066"
ADMIN = "10000000074"


def registry_lines() -> list[dict[str, Any]]:
    """A small registry: two prescribers' patients, a city doctor, two pharmacists."""
    return [
        {
            "type": "professional",
            "rpps": PRESCRIBER,
            "role": "prescriber",
            "name": "Dr A. Martin",
            "structure": "CHU de Nantes",
        },
        {
            "type": "professional",
            "rpps": OTHER_PRESCRIBER,
            "role": "prescriber",
            "name": "Dr B. Durand",
            "structure": "CHU de Lille",
        },
        {"type": "professional", "rpps": CITY_DOCTOR, "role": "prescriber", "name": "Dr C. Petit"},
        {"type": "professional", "rpps": PHARMACIST, "role": "pharmacist", "name": "Pharmacie du Port"},
        {"type": "professional", "rpps": OTHER_PHARMACIST, "role": "pharmacist", "name": "PUI CHU de Lille"},
        {
            "type": "patient",
            "registry_id": "RC-000123",
            "birth_year": 1970,
            "sex": "F",
            "indication": "neuropathic_pain",
            "inclusion_date": "2022-05-03",
            "reference_prescriber": PRESCRIBER,
            "city_doctor": CITY_DOCTOR,
            "pharmacist": PHARMACIST,
            "registry_consent": True,
            "nir_consent": False,
            "legal_status": "adult",
        },
        {
            "type": "patient",
            "registry_id": "RC-000200",
            "birth_year": 1985,
            "sex": "M",
            "indication": "spasticity",
            "inclusion_date": "2023-02-01",
            "reference_prescriber": OTHER_PRESCRIBER,
            "city_doctor": None,
            "pharmacist": None,
            "registry_consent": True,
            "nir_consent": True,
            "legal_status": "adult",
        },
        {
            "type": "prescription",
            "id": "RX-1",
            "registry_id": "RC-000123",
            "prescriber": PRESCRIBER,
            "product": "OIL-T10",
            "daily_thc_mg": 5.0,
            "daily_cbd_mg": 0.25,
            "start_date": "2022-05-03",
            "days": 28,
        },
        {
            "type": "prescription",
            "id": "RX-OTHER",
            "registry_id": "RC-000200",
            "prescriber": OTHER_PRESCRIBER,
            "product": "OIL-T1C20",
            "daily_thc_mg": 1.0,
            "daily_cbd_mg": 20.0,
            "start_date": "2023-02-01",
            "days": 84,
        },
        {
            "type": "dispensation",
            "id": "DS-1",
            "prescription_id": "RX-1",
            "pharmacist": PHARMACIST,
            "date": "2022-05-03",
            "quantity": 14.0,
            "days_supply": 28,
        },
        {
            "type": "titration_step",
            "registry_id": "RC-000123",
            "date": "2022-05-03",
            "daily_thc_mg": 1.0,
            "daily_cbd_mg": 0.05,
        },
        {"type": "consultation", "registry_id": "RC-000123", "date": "2022-06-02", "kind": "complex", "month": 1},
    ]


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return b"\n".join(msgspec.json.encode(r) for r in records) + b"\n"


async def import_records(settings: Settings, records: list[dict[str, Any]]) -> ImportReport:
    async with open_context(settings) as context:
        return await import_ndjson(context, [ndjson(records)], actor="test")


@dataclass(frozen=True)
class Tokens:
    by_rpps: dict[str, str]

    def headers(self, rpps: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.by_rpps[rpps]}"}


@pytest.fixture
async def registry(settings: Settings) -> Tokens:
    """The small registry imported, staff users created, and a token for everyone."""
    report = await import_records(settings, registry_lines())
    assert report.failed == 0, report.errors
    database = Database(settings.database_url)
    tokens: dict[str, str] = {}
    async with database.session() as session, session.begin():
        await create_user(session, rpps=PV_STAFF, role="pv_staff", name="Évaluatrice", actor="test")
        await create_user(session, rpps=ADMIN, role="admin", name="Opérateur", actor="test")
        for rpps in (PRESCRIBER, OTHER_PRESCRIBER, CITY_DOCTOR, PHARMACIST, OTHER_PHARMACIST, PV_STAFF, ADMIN):
            tokens[rpps] = (await issue_token(session, rpps=rpps, days=90, actor="test")).token
    await database.dispose()
    return Tokens(tokens)


@pytest.fixture
def settings_with(settings: Settings) -> Callable[..., Settings]:
    def make(**changes: Any) -> Settings:
        return replace(settings, **changes)

    return make
