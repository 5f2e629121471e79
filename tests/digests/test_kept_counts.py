"""The digest's kept counts (``pv_service.digests.counts``) follow every write that changes what a case
contributes: intake, a follow-up, triage's codes, duplicates, nullifications and closes, a patient's new
indication in a registry import, and the migrations that fill them (weeks, then all time) for the cases
already stored.

Every test of the suite also ends with the counts compared to a recomputation (``conftest.settings``); these
say what each write path must leave, row by row."""

from __future__ import annotations

import copy
import random
from datetime import date
from pathlib import Path
from typing import Any

from conftest import ADMIN, PRESCRIBER, PV_STAFF, Tokens, ndjson, registry_lines
from litestar.testing import AsyncTestClient
from report_bodies import reaction, report
from sqlalchemy import insert, select
from triage.test_service import new_case

from digests.test_counts import PARIS, generated_cases, patient_row, reaction_rows
from digests.test_counts import case_row as case_row_now
from pv_service.clock import utc_now
from pv_service.config import Settings, sqlite_url
from pv_service.digests import counts
from pv_service.storage.database import Database
from pv_service.storage.migrate import upgrade
from pv_service.storage.models import Case, CaseReaction, Patient, User

REPORTS = "/api/v1/reports"
PRODUCT, INDICATION = "OIL-T10", "neuropathic_pain"  # the registry fixture's RC-000123


async def kept(database: Database) -> dict[counts.Key, int]:
    async with database.read_session() as session:
        return await counts.stored_counts(session)


def this_week(settings: Settings) -> date:
    return counts.local_monday(utc_now(), settings.zone)


def rows(week: date, codes: dict[str, int], *, product: str = PRODUCT, indication: str = INDICATION) -> dict:
    """The rows of one week, and the same under all time: the only week counted."""
    return {(at, product, indication, code): n for at in (week, counts.ALL_TIME) for code, n in codes.items()}


async def test_a_report_counts_its_case_once_and_each_distinct_code_once(
    client: AsyncTestClient, registry: Tokens, database: Database, settings: Settings
) -> None:
    body = report(
        reactions=[
            reaction(code="somnolence"),
            reaction(code="somnolence", text="somnolence encore", onset_date="2023-06-03"),
            reaction(code="dizziness", text="vertiges", onset_date="2023-06-02"),
            reaction(code=None, text="malaise inhabituel", onset_date="2023-06-02"),
        ]
    )
    await new_case(client, registry, body)
    await new_case(client, registry)
    week = this_week(settings)
    assert await kept(database) == rows(week, {"": 2, "somnolence": 2, "dizziness": 1})


async def test_a_follow_up_moves_the_case_to_its_new_product_and_adds_its_new_code(
    client: AsyncTestClient, registry: Tokens, database: Database, settings: Settings
) -> None:
    case = await new_case(client, registry)
    updated = copy.deepcopy(report())
    updated["suspect_product"]["code"] = "OIL-T5C5"
    updated["reactions"].append(reaction(code="dizziness", text="vertiges", onset_date="2023-06-02"))
    response = await client.post(
        f"{REPORTS}/{case.id}/follow-ups", json=updated, headers={**registry.headers(PRESCRIBER), "If-Match": case.etag}
    )
    assert response.status_code == 201, response.text
    week = this_week(settings)
    assert await kept(database) == rows(week, {"": 1, "somnolence": 1, "dizziness": 1}, product="OIL-T5C5")


async def test_triage_coding_a_reaction_counts_the_code(
    client: AsyncTestClient, registry: Tokens, database: Database, settings: Settings
) -> None:
    case = await new_case(client, registry, report(reactions=[reaction(code=None, text="malaise")]))
    week = this_week(settings)
    assert await kept(database) == rows(week, {"": 1})
    await case.must("start")
    await case.must("code", reaction=0, code="headache")
    assert await kept(database) == rows(week, {"": 1, "headache": 1})
    await case.must("code", reaction=0, code="fatigue")
    assert await kept(database) == rows(week, {"": 1, "fatigue": 1})


async def test_a_duplicate_leaves_the_counts_and_comes_back_when_closed(
    client: AsyncTestClient, registry: Tokens, database: Database, settings: Settings
) -> None:
    master = await new_case(client, registry)
    copy_of = await new_case(client, registry)
    week = this_week(settings)
    assert await kept(database) == rows(week, {"": 2, "somnolence": 2})
    await copy_of.must("mark_duplicate", master=master.id)
    assert await kept(database) == rows(week, {"": 1, "somnolence": 1})
    # Closing a duplicate makes it a closed case, which the digest's population counts (its state decides).
    await copy_of.must("close")
    assert await kept(database) == rows(week, {"": 2, "somnolence": 2})


async def test_a_nullified_case_leaves_the_counts(
    client: AsyncTestClient, registry: Tokens, database: Database, settings: Settings
) -> None:
    case = await new_case(client, registry)
    await case.must("nullify", reason="Saisi deux fois.")
    assert await kept(database) == {}


async def test_actions_that_change_no_contribution_leave_the_counts(
    client: AsyncTestClient, registry: Tokens, database: Database, settings: Settings
) -> None:
    case = await new_case(client, registry)
    await case.must("assign", assignee=PV_STAFF)
    await case.must("assess", reaction=0, who_umc="possible")
    await case.must("forward", destination="crpv")
    await case.must("close")
    assert await kept(database) == rows(this_week(settings), {"": 1, "somnolence": 1})


async def test_a_new_indication_in_an_import_moves_the_patients_cases(
    client: AsyncTestClient, registry: Tokens, database: Database, settings: Settings
) -> None:
    await new_case(client, registry)
    await new_case(client, registry, report(reactions=[reaction(code="dizziness", text="vertiges")]))
    changed = [
        {**line, "indication": "epilepsy"}
        if line.get("registry_id") == "RC-000123" and line["type"] == "patient"
        else line
        for line in registry_lines()
    ]
    response = await client.post(
        "/api/v1/registry/imports",
        content=ndjson(changed),
        headers={**registry.headers(ADMIN), "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200 and response.json()["failed"] == 0, response.text
    week = this_week(settings)
    assert await kept(database) == rows(week, {"": 2, "somnolence": 1, "dizziness": 1}, indication="epilepsy")


def _before_the_week_column(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name != "received_week"}


async def test_the_migration_files_stored_cases_under_their_week_and_counts_them(tmp_path: Path) -> None:
    database = Database(sqlite_url(tmp_path / "before.db"))
    try:
        await upgrade(database, "0006")
        cases = generated_cases(random.Random(5))
        async with database.session() as session, session.begin():
            await session.execute(
                insert(User), [{"rpps": PRESCRIBER, "role": "prescriber", "name": "Dr", "created_at": utc_now()}]
            )
            await session.execute(insert(Patient), [patient_row(n) for n in {c.patient_id for c in cases}])
            await session.execute(insert(Case), [_before_the_week_column(case_row_now(c)) for c in cases])
            await session.execute(insert(CaseReaction), [row for c in cases for row in reaction_rows(c)])
        await upgrade(database)
        async with database.read_session() as session:
            weeks = dict(list(await session.execute(select(Case.id, Case.received_week))))
            stored = await counts.stored_counts(session)
            recomputed = await counts.recomputed_counts(session)
    finally:
        await database.dispose()
    # Cases on local midnights and a microsecond before, across a change to summer time, one UPDATE a week.
    assert weeks == {c.id: counts.local_monday(c.received_at, PARIS) for c in cases}
    counted = sum(1 for c in cases if c.state not in ("duplicate", "nullified"))
    assert stored == recomputed
    assert sum(n for (week, _, _, code), n in stored.items() if code == "" and week != counts.ALL_TIME) == counted
    assert sum(n for (week, _, _, code), n in stored.items() if code == "" and week == counts.ALL_TIME) == counted
