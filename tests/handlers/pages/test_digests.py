"""The digest pages (SPEC §15): the list of stored weeks, and a digest with its charts drawn on the server,
its signals explained, its rises and anomalies — in words, never in codes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from conftest import OTHER_PRESCRIBER, PRESCRIBER, PV_STAFF, Tokens, date_receipt_back, import_records
from jobs.test_service import troubled_registry
from litestar.testing import AsyncTestClient
from pages_client import sign_in
from report_bodies import reaction, report, serious

from pv_service.clock import utc_now
from pv_service.config import Settings
from pv_service.jobs.periods import latest_complete, period_containing
from pv_service.storage.database import Database

TODAY_IN_PARIS = datetime.now(ZoneInfo("Europe/Paris")).date()
THIS_WEEK = period_containing("week", TODAY_IN_PARIS).key
LAST_WEEK = latest_complete("week", TODAY_IN_PARIS).key
WEEK_BEFORE = period_containing("week", TODAY_IN_PARIS - timedelta(days=14)).key
CHARTS = ("chart-weeks", "chart-priority", "chart-indication", "chart-product", "forest-product-cumulative")


# (reporter, patient, product, code, how many, seriousness)
Batch = tuple[str, str, str, str, int, dict[str, bool]]
# OIL-T10 (RC-000123, neuropathic pain): somnolence ×6 (serious), dizziness ×1; OIL-T1C20 (RC-000200,
# spasticity): somnolence ×1, dizziness ×6 — two signals by Evans' criteria and the ROR's.
SIGNALS: list[Batch] = [
    (PRESCRIBER, "RC-000123", "OIL-T10", "somnolence", 6, serious(hospitalisation=True)),
    (PRESCRIBER, "RC-000123", "OIL-T10", "dizziness", 1, serious()),
    (OTHER_PRESCRIBER, "RC-000200", "OIL-T1C20", "somnolence", 1, serious()),
    (OTHER_PRESCRIBER, "RC-000200", "OIL-T1C20", "dizziness", 6, serious()),
]


def of_oil_t1c20(code: str, count: int) -> list[Batch]:
    return [(OTHER_PRESCRIBER, "RC-000200", "OIL-T1C20", code, count, serious())]


async def file_cases(client: AsyncTestClient[Any], registry: Tokens, batches: list[Batch] = SIGNALS) -> list[int]:
    ids = []
    for reporter, patient, product, code, count, flags in batches:
        for _ in range(count):
            body = report(
                patient={"registry_id": patient},
                suspect_product={"code": product},
                reactions=[reaction(code=code, text=code, onset_date="2023-03-01", seriousness=flags)],
            )
            response = await client.post("/api/v1/reports", json=body, headers=registry.headers(reporter))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids


async def receive_back(database: Database, ids: list[int], weeks: int) -> None:
    await date_receipt_back(database, ids, utc_now() - timedelta(weeks=weeks), Settings().zone)


async def produce(client: AsyncTestClient[Any], registry: Tokens, week: str) -> None:
    run = await client.post(
        "/api/v1/jobs/weekly-signal-digest/runs", json={"period": week}, headers=registry.headers(PV_STAFF)
    )
    assert run.status_code == 201 and run.json()["status"] == "succeeded", run.text


def words(html: str) -> str:
    """The text a reader sees: tags (and their attributes, links included) left out."""
    return unescape(re.sub(r"<[^>]+>", " ", html))


def table(html: str, table_id: str) -> str:
    found = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert found, f"no table {table_id}"
    return found.group(0)


def row_cells(html: str, table_id: str, first_cell: str) -> list[str]:
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table(html, table_id), re.S):
        cells = [" ".join(words(c).split()) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        if cells and cells[0].startswith(first_cell):
            return cells
    raise AssertionError(f"no row {first_cell!r} in {table_id}")


async def stored_digest_page(client: AsyncTestClient[Any], registry: Tokens, database: Database) -> str:
    ids = await file_cases(client, registry)
    await receive_back(database, ids, weeks=1)
    await produce(client, registry, LAST_WEEK)
    await sign_in(client, registry.by_rpps[PV_STAFF])
    response = await client.get(f"/digests/{LAST_WEEK}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def test_the_digest_page_draws_each_chart_as_an_svg_image_with_a_title_and_a_description(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    html = await stored_digest_page(client, registry, database)
    for chart in CHARTS:
        svg = re.search(rf'<svg[^>]*id="{chart}"[^>]*>.*?</svg>', html, re.S)
        assert svg, chart
        assert 'role="img"' in svg.group(0) and f'aria-labelledby="{chart}-title {chart}-desc"' in svg.group(0)
        assert f'<title id="{chart}-title">' in svg.group(0) and f'<desc id="{chart}-desc">' in svg.group(0)
    assert html.count("<h1") == 1
    # The numbers of each chart are in a table too.
    assert row_cells(html, "weeks-table", LAST_WEEK) == [LAST_WEEK, "14", "6"]
    assert row_cells(html, "product-table", "OIL-T10")[1] == "7"


async def test_the_priority_chart_runs_from_P1_to_P5_whatever_the_counts(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    html = await stored_digest_page(client, registry, database)
    chart = re.search(r'<svg[^>]*id="chart-priority".*?</svg>', html, re.S)
    assert chart
    shown = re.findall(r">(P[1-5])<", chart.group(0))
    assert shown == ["P1", "P2", "P3", "P4", "P5"]
    cells = [row_cells(html, "priority-table", f"P{n}")[1] for n in range(1, 6)]
    assert cells == ["0", "0", "6", "0", "8"]  # P5 (8) is the largest, and still last


async def test_the_digest_speaks_in_labels_not_codes(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    html = await stored_digest_page(client, registry, database)
    text = words(html)
    for code in ("neuropathic_pain", "spasticity", "dizziness", "thc_dominant", "cbd_dominant", "last_12_weeks"):
        assert code not in text, code
    assert "Douleurs neuropathiques réfractaires aux thérapies accessibles" in text
    assert "Sensations vertigineuses" in text
    assert "OIL-T10 (huile, dominante THC)" in text
    english = words((await client.get(f"/digests/{LAST_WEEK}?lang=en")).text)
    assert "Neuropathic pain refractory to accessible therapies" in english and "Dizziness" in english


async def test_the_signals_table_shows_the_four_cells_the_criteria_in_words_and_the_stratified_ror(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    html = await stored_digest_page(client, registry, database)
    cells = row_cells(html, "pairs-table-product-cumulative", "OIL-T10")
    product, code, a, b, c, d, prr, chi2, ror, ic025, mh, new, criteria, cases = cells
    assert product == "OIL-T10 (huile, dominante THC)"
    assert (code, a, b, c, d) == ("Somnolence", "6", "1", "1", "6")
    assert re.fullmatch(r"-?\d,\d\d", ic025), ic025
    assert prr == "6,00" and chi2 == "4,57" and ror.startswith("36,00 [")
    assert new == "Oui"
    assert criteria.startswith("Signal")
    assert "Evans : 6 cas ≥ 3, PRR 6,00 ≥ 2 et χ² 4,57 ≥ 4." in criteria
    assert "ROR : borne inférieure de son intervalle à 95 % 1,80 > 1" in criteria
    # Each product is given in one indication: the ROR stratified by indication is undefined, said as "–".
    assert mh == "–"
    header = table(html, "pairs-table-product-cumulative")
    assert "Mantel-Haenszel" in header and ">a</abbr>" in header and ">d</abbr>" in header
    link = re.search(r'<a href="(/queue\?product=OIL-T10&amp;reaction=somnolence[^"]*)"', header)
    assert link and "state=closed" in link.group(1) and "state=duplicate" not in link.group(1)
    assert cases.startswith("Voir les cas (6)")
    # The ratio classes have their table too, without a stratified ROR.
    ratio = row_cells(html, "pairs-table-ratio-cumulative", "dominante THC")
    assert ratio[2:6] == ["6", "1", "1", "6"] and len(ratio) == len(cells) - 1


async def test_rises_on_a_young_system_say_the_baseline_is_too_short_and_show_p_values(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    ids = await file_cases(client, registry)
    await receive_back(database, ids, weeks=1)
    # One earlier case of OIL-T1C20 × dizziness, three weeks before: a baseline, but of one week only.
    earlier = await file_cases(client, registry, of_oil_t1c20("dizziness", 1))
    await receive_back(database, earlier, weeks=4)
    await produce(client, registry, LAST_WEEK)
    await sign_in(client, registry.by_rpps[PV_STAFF])
    html = (await client.get(f"/digests/{LAST_WEEK}")).text
    text = " ".join(words(html).split())
    assert "Semaines avec au moins un cas parmi les 12 précédentes : 1." in text
    rise = row_cells(html, "rising", "OIL-T1C20")
    assert rise[1] == "Sensations vertigineuses" and rise[2] == "6"
    assert rise[3].startswith("Moyenne de 0,08 cas par semaine") and re.fullmatch(r"\d,\dE-\d+", rise[4]), rise
    # The pair with no case before: a sentence instead of "mean 0.00, threshold 0.00", and no p-value.
    fresh = row_cells(html, "rising", "OIL-T10")
    assert fresh[3].startswith("Aucun cas de ce couple dans les 12 semaines précédentes") and fresh[4] == "–"
    assert "0,00" not in fresh[3]


async def test_a_baseline_of_four_weeks_with_cases_is_not_called_short(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    for weeks_back in (2, 3, 4, 5):
        await receive_back(
            database, await file_cases(client, registry, of_oil_t1c20("somnolence", 1)), weeks=weeks_back
        )
    await sign_in(client, registry.by_rpps[PV_STAFF])
    html = (await client.get(f"/digests/{THIS_WEEK}")).text
    assert 'id="short-baseline"' not in html
    assert 'id="in-progress"' in html  # the current week is computed live and said so


async def test_the_anomalies_of_the_week_are_broken_down_by_kind_in_words(
    client: AsyncTestClient[Any], registry: Tokens, settings: Settings
) -> None:
    assert (await import_records(settings, troubled_registry())).failed == 0
    day = (utc_now().date() - timedelta(days=2)).isoformat()
    run = await client.post(
        "/api/v1/jobs/dose-crosscheck/runs", json={"period": day}, headers=registry.headers(PV_STAFF)
    )
    assert run.status_code == 201, run.text
    await sign_in(client, registry.by_rpps[PV_STAFF])
    html = (await client.get(f"/digests/{THIS_WEEK}")).text
    assert re.search(r'<svg[^>]*id="chart-anomalies"[^>]*role="img"', html)
    early = row_cells(html, "anomalies-table", "Délivrance trop précoce")
    assert early[1] == "1"
    assert "early_refill" not in words(html)
    assert 'href="/anomalies?kind=early_refill&amp;since=' in html


async def test_the_list_links_every_stored_week(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    await produce(client, registry, WEEK_BEFORE)
    await produce(client, registry, LAST_WEEK)
    await sign_in(client, registry.by_rpps[PV_STAFF])
    response = await client.get("/digests")
    assert response.status_code == 200
    links = re.findall(r'<a href="/digests/(\d{4}-W\d{2})">', table(response.text, "digests"))
    assert links == [LAST_WEEK, WEEK_BEFORE]
    assert f'href="/digests/{THIS_WEEK}"' in response.text
    shown = await client.get(f"/digests/{WEEK_BEFORE}")
    assert shown.status_code == 200 and 'id="no-rise"' in shown.text


async def test_an_empty_week_draws_its_charts_with_a_sentence_instead_of_bars(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await produce(client, registry, LAST_WEEK)
    await sign_in(client, registry.by_rpps[PV_STAFF])
    html = (await client.get(f"/digests/{LAST_WEEK}")).text
    assert re.search(r'<svg[^>]*id="chart-weeks"', html)
    assert "Aucun signal, et aucun couple d'au moins 3 cas." in words(html)


async def test_an_unknown_week_is_a_404_page_and_a_malformed_one_a_400_page(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await sign_in(client, registry.by_rpps[PV_STAFF])
    unknown = await client.get("/digests/2025-W10")
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/html")
    malformed = await client.get("/digests/2025-10")
    assert malformed.status_code == 400 and malformed.headers["content-type"].startswith("text/html")


async def test_digest_pages_are_for_pv_staff(client: AsyncTestClient[Any], registry: Tokens) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    for path in ("/digests", f"/digests/{THIS_WEEK}"):
        assert (await client.get(path)).status_code == 403
