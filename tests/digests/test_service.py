"""SPEC §6, §14: the weekly signal digest — counts, 2×2 tables, formats, stored and live weeks."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from conftest import OTHER_PRESCRIBER, PRESCRIBER, PV_STAFF, Tokens, date_receipt_back
from litestar.testing import AsyncTestClient
from report_bodies import reaction, report, serious

from pv_service.clock import utc_now
from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.digests.service import digest_bounds
from pv_service.jobs.periods import latest_complete, parse_period, period_containing
from pv_service.storage.database import Database

TODAY_IN_PARIS = datetime.now(ZoneInfo("Europe/Paris")).date()
THIS_WEEK = period_containing("week", TODAY_IN_PARIS).key
LAST_WEEK = latest_complete("week", TODAY_IN_PARIS).key


async def submit_cases(client: AsyncTestClient, registry: Tokens) -> list[int]:
    """OIL-T10 (RC-000123): somnolence ×3, dizziness ×1; OIL-T1C20 (RC-000200): somnolence ×1, dizziness ×3."""
    ids = []
    for code, count, serious_flags in (("somnolence", 3, {"hospitalisation": True}), ("dizziness", 1, {})):
        for _ in range(count):
            body = report(reactions=[reaction(code=code, text=code, seriousness=serious(**serious_flags))])
            response = await client.post("/api/v1/reports", json=body, headers=registry.headers(PRESCRIBER))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    for code, count in (("somnolence", 1), ("dizziness", 3)):
        for _ in range(count):
            body = report(
                patient={"registry_id": "RC-000200"},
                suspect_product={"code": "OIL-T1C20"},
                reactions=[reaction(code=code, text=code, onset_date="2023-03-01")],
            )
            response = await client.post("/api/v1/reports", json=body, headers=registry.headers(OTHER_PRESCRIBER))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids


def pair(digest: dict[str, Any], level: str, window: str, product: str, reaction_code: str) -> dict[str, Any]:
    return next(
        p
        for p in digest["pairs"]
        if (p["level"], p["window"], p["product"], p["reaction"]) == (level, window, product, reaction_code)
    )


async def test_current_week_is_computed_live_with_hand_checked_tables(
    client: AsyncTestClient, registry: Tokens
) -> None:
    await submit_cases(client, registry)
    response = await client.get(f"/api/v1/digests/{THIS_WEEK}", headers=registry.headers(PV_STAFF))
    assert response.status_code == 200, response.text
    digest = response.json()
    assert digest["week"] == THIS_WEEK and digest["complete"] is False
    totals = digest["totals"]
    assert (totals["received"], totals["serious"]) == (8, 3)
    assert totals["by_priority"] == {"P1": 0, "P2": 0, "P3": 3, "P4": 0, "P5": 5}
    assert totals["by_product"] == {"OIL-T10": 4, "OIL-T1C20": 4}
    assert totals["by_indication"] == {"neuropathic_pain": 4, "spasticity": 4}
    somnolence = pair(digest, "product", "cumulative", "OIL-T10", "somnolence")
    assert (somnolence["a"], somnolence["b"], somnolence["c"], somnolence["d"]) == (3, 1, 1, 3)
    assert somnolence["prr"] == (3 / 4) / (1 / 4)
    assert somnolence["ror"] == (3 * 3) / (1 * 1)
    expected = (3 + 0.5) / ((4 * 4 / 8) + 0.5)
    assert abs(somnolence["ic"] - __import__("math").log2(expected)) < 1e-12
    # Each product is given in one indication only: within each stratum no case contrasts the product with
    # another, so the ROR stratified by indication is undefined — the confounding SPEC §15 guards against.
    assert (somnolence["ror_mh"], somnolence["ror_mh_lower"], somnolence["ror_mh_upper"]) == (None, None, None)
    assert somnolence["signal_criteria"] == []
    ratio = pair(digest, "ratio", "cumulative", "thc_dominant", "somnolence")
    assert (ratio["a"], ratio["b"], ratio["c"], ratio["d"]) == (3, 1, 1, 3)
    assert ratio["ror_mh"] is None
    assert pair(digest, "product", "last_12_weeks", "OIL-T1C20", "dizziness")["a"] == 3
    listed = (await client.get("/api/v1/digests", headers=registry.headers(PV_STAFF))).json()["items"]
    assert listed == []  # the current week is never stored


async def test_digest_job_stores_the_week_and_serves_it_in_three_formats(
    client: AsyncTestClient, registry: Tokens, database: Database, settings: Settings
) -> None:
    ids = await submit_cases(client, registry)
    await date_receipt_back(database, ids, utc_now() - timedelta(days=7), settings.zone)
    headers = registry.headers(PV_STAFF)
    run = await client.post("/api/v1/jobs/weekly-signal-digest/runs", json={"period": LAST_WEEK}, headers=headers)
    assert run.status_code == 201 and run.json()["status"] == "succeeded", run.text
    stored = (await client.get(f"/api/v1/digests/{LAST_WEEK}", headers=headers)).json()
    assert stored["week"] == LAST_WEEK and stored["complete"] is True
    assert {"week", "totals", "pairs", "rising"} <= set(stored)
    listed = (await client.get("/api/v1/digests", headers=headers)).json()["items"]
    assert [d["week"] for d in listed] == [LAST_WEEK]

    as_csv = await client.get(f"/api/v1/digests/{LAST_WEEK}?format=csv", headers={**headers, "Accept": "text/html"})
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["level", "window", "product", "reaction", "a", "b", "c", "d", "prr", "chi2", "ror",
                       "ror_lower", "ror_upper", "ic", "ic025", "signal", "signal_criteria", "new"]  # fmt: skip
    assert len(rows) - 1 == len(stored["pairs"])
    by_accept = await client.get(f"/api/v1/digests/{LAST_WEEK}", headers={**headers, "Accept": "text/csv"})
    assert by_accept.headers["content-type"].startswith("text/csv")
    page = await client.get(f"/api/v1/digests/{LAST_WEEK}?format=html", headers=headers)
    assert page.headers["content-type"].startswith("text/html")
    assert f"Weekly signal digest {LAST_WEEK}" in page.text and 'class="bar"' in page.text


async def test_unknown_future_and_malformed_weeks(client: AsyncTestClient, registry: Tokens) -> None:
    headers = registry.headers(PV_STAFF)
    assert (await client.get("/api/v1/digests/2025-W10", headers=headers)).status_code == 404
    future = period_containing("week", TODAY_IN_PARIS + timedelta(days=14)).key
    assert (await client.get(f"/api/v1/digests/{future}", headers=headers)).status_code == 404
    for bad in ("2026-W7", "2026-47", "W47-2026"):
        assert (await client.get(f"/api/v1/digests/{bad}", headers=headers)).status_code == 400, bad
    assert (await client.get(f"/api/v1/digests/{THIS_WEEK}", headers=registry.headers(PRESCRIBER))).status_code == 403


async def test_nullified_and_duplicate_cases_leave_the_population(client: AsyncTestClient, registry: Tokens) -> None:
    ids = await submit_cases(client, registry)
    headers = registry.headers(PV_STAFF)
    case = await client.get(f"/api/v1/reports/{ids[0]}", headers=headers)
    nullified = await client.post(
        f"/api/v1/reports/{ids[0]}/actions",
        json={"action": "nullify", "reason": "erreur"},
        headers={**headers, "If-Match": case.headers["etag"]},
    )
    assert nullified.status_code == 200
    digest = (await client.get(f"/api/v1/digests/{THIS_WEEK}", headers=headers)).json()
    assert digest["totals"]["received"] == 7
    assert pair(digest, "product", "cumulative", "OIL-T10", "somnolence")["a"] == 2


def test_digest_weeks_follow_paris_midnights_across_daylight_saving() -> None:
    context = ServiceContext(settings=Settings(), database=None, reference=None)  # type: ignore[arg-type]
    bounds = digest_bounds(context, parse_period("week", "2025-W15"))
    utc = datetime.fromisoformat
    # 2025-W15 starts Monday 7 April 00:00 CEST; 2025-W13 (before summer time, 30 March) 24 March 00:00 CET.
    assert bounds.weeks[0] == (utc("2025-04-06T22:00:00+00:00"), utc("2025-04-13T22:00:00+00:00"))
    assert bounds.weeks[2] == (utc("2025-03-23T23:00:00+00:00"), utc("2025-03-30T22:00:00+00:00"))
    assert bounds.weeks[2][1] - bounds.weeks[2][0] == timedelta(hours=167)
    # The 12 weeks that end with W15 start on Monday 20 January 00:00 CET, and the weeks leave no gap.
    assert bounds.weeks[11][0] == utc("2025-01-19T23:00:00+00:00")
    assert all(bounds.weeks[back][0] == bounds.weeks[back + 1][1] for back in range(len(bounds.weeks) - 1))
