"""SPEC §2, §12, §14: the NDJSON import, per-line results, idempotency, updates audited."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from conftest import ADMIN, PRESCRIBER, Tokens, import_records, ndjson, registry_lines
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from pv_service.app import create_app
from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.demo_data import generate_registry
from pv_service.registry.service import import_ndjson
from pv_service.storage.database import Database
from pv_service.storage.models import AuditEntry, Patient, Prescription

IMPORTS = "/api/v1/registry/imports"


def patient(registry_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "type": "patient", "registry_id": registry_id, "birth_year": 1960, "sex": "M", "indication": "oncology",
        "inclusion_date": "2023-01-10", "reference_prescriber": PRESCRIBER, "registry_consent": True, **changes,
    }  # fmt: skip


async def post_import(client: AsyncTestClient, registry: Tokens, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = await client.post(
        IMPORTS, content=ndjson(records), headers={**registry.headers(ADMIN), "Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_import_endpoint_reports_counts_that_add_up(client: AsyncTestClient, registry: Tokens) -> None:
    report = await post_import(client, registry, [patient("RC-1"), patient("RC-2", indication="nope")])
    assert report["total"] == 2
    assert report["accepted"] + report["unchanged"] + report["failed"] == report["total"]
    assert (report["accepted"], report["failed"]) == (1, 1)
    assert report["errors"] == [
        {"line": 2, "field": "indication", "code": "invalid_value", "message": report["errors"][0]["message"]}
    ]


async def test_reimporting_the_same_file_changes_nothing(settings: Settings, database: Database) -> None:
    first = await import_records(settings, registry_lines())
    second = await import_records(settings, registry_lines())
    assert (first.accepted, first.failed) == (len(registry_lines()), 0)
    assert (second.accepted, second.unchanged, second.failed) == (0, len(registry_lines()), 0)
    async with database.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(Patient)) == 2
        assert await session.scalar(select(func.count()).select_from(Prescription)) == 2


async def test_lines_may_come_in_any_order(settings: Settings) -> None:
    report = await import_records(settings, list(reversed(registry_lines())))
    assert (report.accepted, report.failed) == (len(registry_lines()), 0), report.errors


async def test_changed_record_is_updated_and_audited(settings: Settings, database: Database) -> None:
    await import_records(settings, registry_lines())
    changed = [r if r.get("id") != "RX-1" else {**r, "daily_thc_mg": 6.0} for r in registry_lines()]
    report = await import_records(settings, changed)
    assert (report.accepted, report.failed) == (1, 0)
    async with database.read_session() as session:
        assert (await session.get(Prescription, "RX-1")).daily_thc_mg == 6.0  # type: ignore[union-attr]
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "prescription.update"))
    assert entry is not None
    assert (entry.entity_id, entry.before, entry.after) == ("RX-1", {"daily_thc_mg": 5.0}, {"daily_thc_mg": 6.0})


@pytest.mark.parametrize(
    ("record", "field", "code"),
    [
        (patient("RC-9", inclusion_date="2024-03-27"), "inclusion_date", "outside_inclusion_window"),
        (patient("RC-9", inclusion_date="2021-03-25"), "inclusion_date", "outside_inclusion_window"),
        (patient("RC-9", reference_prescriber="10000000090"), "reference_prescriber", "unknown_reference"),
        (patient("RC-9", reference_prescriber="10000000091"), "reference_prescriber", "invalid_value"),
        (patient("RC-9", registry_consent=False), "registry_consent", "invalid_value"),
        (patient("RC-9", sex="X"), "sex", "invalid_value"),
        ({"type": "professional", "rpps": "10000000010", "role": "prescriber", "name": "X"}, "rpps", "invalid_value"),
        ({"type": "vaccination", "registry_id": "RC-1"}, "type", "invalid_value"),
        ({"type": "withdrawal", "registry_id": "RC-404", "date": "2023-01-01", "reason": "x"}, "registry_id",
         "unknown_reference"),
        ({"type": "prescription", "id": "RX-9", "registry_id": "RC-000123", "prescriber": PRESCRIBER,
          "product": "FLOWER-T18", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.3, "start_date": "2022-06-01", "days": 30},
         "days", "duration_exceeds_28_days"),
        ({"type": "dispensation", "id": "DS-9", "prescription_id": "RX-1", "pharmacist": "10000000017",
          "date": "2022-05-31", "quantity": 2.0, "days_supply": 3}, "days_supply", "dispensation_outside_prescription"),
    ],
)  # fmt: skip
async def test_each_bad_line_fails_alone_with_its_reason(
    settings: Settings, record: dict[str, Any], field: str, code: str
) -> None:
    lines = [*registry_lines(), record]
    report = await import_records(settings, lines)
    assert (report.accepted, report.failed) == (len(lines) - 1, 1)
    assert [(e.line, e.field, e.code) for e in report.errors] == [(len(lines), field, code)]


async def test_last_day_before_the_cutoff_is_accepted(settings: Settings) -> None:
    report = await import_records(settings, [*registry_lines(), patient("RC-9", inclusion_date="2024-03-26")])
    assert report.failed == 0


async def test_malformed_line_is_reported_and_the_rest_kept(context: ServiceContext) -> None:
    body = ndjson(registry_lines()[:5]) + b"{oops\n\n" + ndjson([patient("RC-7")])
    chunks = [body[start : start + 7] for start in range(0, len(body), 7)]  # chunk boundaries fall anywhere
    report = await import_ndjson(context, chunks, actor="test")
    assert (report.total, report.accepted, report.failed) == (7, 6, 1)
    assert [(e.line, e.code) for e in report.errors] == [(6, "invalid_type")]


async def test_withdrawal_in_the_file_restricts_later_records(settings: Settings) -> None:
    withdrawal = {"type": "withdrawal", "registry_id": "RC-000123", "date": "2022-06-05", "reason": "x"}
    after = {"type": "titration_step", "registry_id": "RC-000123", "date": "2022-06-08", "daily_thc_mg": 3.0,
             "daily_cbd_mg": 0.1}  # fmt: skip
    report = await import_records(settings, [after, *registry_lines(), withdrawal])
    assert [(e.line, e.code) for e in report.errors] == [(1, "patient_withdrawn")]


async def test_import_body_over_its_limit_is_413(settings: Settings, registry: Tokens) -> None:
    small = replace(settings, import_max_bytes=200)
    async with AsyncTestClient(app=create_app(small)) as client:
        response = await client.post(
            IMPORTS,
            content=ndjson([patient(f"RC-{i}") for i in range(5)]),
            headers={**registry.headers(ADMIN), "Content-Type": "application/x-ndjson"},
        )
    assert response.status_code == 413


async def test_import_is_audited_with_its_counts(client: AsyncTestClient, registry: Tokens, database: Database) -> None:
    await post_import(client, registry, [patient("RC-1")])
    async with database.read_session() as session:
        entries = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "registry.import")))
    assert entries[-1].actor == ADMIN
    assert entries[-1].after == {"total": 1, "accepted": 1, "unchanged": 0, "failed": 0}


async def test_generated_demo_registry_imports_without_a_failure(context: ServiceContext) -> None:
    today = date(2026, 11, 22)
    records = generate_registry(patients=40, today=today, reference=context.reference, settings=context.settings)
    report = await import_ndjson(context, [ndjson(records)], actor="test")
    assert report.failed == 0, report.errors[:5]
    assert report.accepted == len(records)
