"""The registry use cases below HTTP: the one NDJSON import pipeline, and writers racing on one key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import PRESCRIBER, Tokens, ndjson, registry_lines
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from pv_service.context import ServiceContext
from pv_service.errors import Problem
from pv_service.registry import repository
from pv_service.registry.service import CONCURRENT_CHANGE, import_ndjson
from pv_service.storage.database import Database
from pv_service.storage.models import AuditEntry, Patient, Prescription


async def count(database: Database, model: type[Any]) -> int:
    async with database.read_session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_import_ndjson_reads_async_chunks_like_sync_ones(context: ServiceContext) -> None:
    body = ndjson(registry_lines())

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 5):
            yield body[start : start + 5]

    first = await import_ndjson(context, chunks(), actor="test")
    again = await import_ndjson(context, [body], actor="test")
    assert (first.total, first.accepted, first.failed) == (len(registry_lines()), len(registry_lines()), 0)
    assert (again.accepted, again.unchanged) == (0, len(registry_lines()))


async def test_import_ndjson_tells_the_bytes_read_then_the_records_applied(context: ServiceContext) -> None:
    body = ndjson(registry_lines()) + b"{oops\n"
    told: list[tuple[str, int, int | None]] = []
    await import_ndjson(context, [body[:100], body[100:]], actor="test", progress=lambda *step: told.append(step))
    records = len(registry_lines())
    assert told[:2] == [("reading", 100, None), ("reading", len(body), None)]
    assert told[2:] == [("importing", done, records) for done in range(records + 1)]


async def test_import_past_its_byte_limit_is_413_and_writes_nothing(context: ServiceContext) -> None:
    body = ndjson(registry_lines())
    with pytest.raises(Problem) as refused:
        await import_ndjson(context, [body[:300], body[300:]], actor="test", max_bytes=len(body) - 1)
    assert refused.value.status_code == 413
    assert await count(context.database, Patient) == 0


@pytest.fixture
def prescriptions_stored_unseen(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if another writer stored the prescriptions between a writer's look-up and its insert."""
    looked_up = repository.rows_where_in

    async def unseen(session: Any, table: Any, column: str, values: Any) -> list[dict[str, Any]]:
        return [] if table.name == "prescriptions" else await looked_up(session, table, column, values)

    monkeypatch.setattr(repository, "rows_where_in", unseen)


@pytest.mark.usefixtures("prescriptions_stored_unseen")
async def test_import_meeting_a_row_stored_since_it_looked_is_a_409_and_writes_nothing(
    context: ServiceContext, registry: Tokens
) -> None:
    audited = await count(context.database, AuditEntry)
    with pytest.raises(Problem) as refused:
        await import_ndjson(context, [ndjson(registry_lines())], actor="test")
    assert (refused.value.status_code, refused.value.detail) == (409, CONCURRENT_CHANGE)
    assert await count(context.database, AuditEntry) == audited


@pytest.mark.usefixtures("prescriptions_stored_unseen")
async def test_api_write_meeting_a_row_stored_since_it_looked_is_a_409_not_a_500(
    client: AsyncTestClient, registry: Tokens, database: Database
) -> None:
    audited = await count(database, AuditEntry)
    rx_1 = {"id": "RX-1", "product": "OIL-T10", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.25, "start_date": "2022-05-03"}
    response = await client.post(
        "/api/v1/patients/RC-000123/prescriptions", json={**rx_1, "days": 28}, headers=registry.headers(PRESCRIBER)
    )
    assert response.status_code == 409, response.text
    assert response.json()["detail"] == CONCURRENT_CHANGE
    assert await count(database, AuditEntry) == audited
    assert await count(database, Prescription) == 2
