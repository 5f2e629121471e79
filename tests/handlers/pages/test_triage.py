"""PV staff's pages (SPEC §15): the queue with its filters, pages and counts; the case page with the registry
around the onset, findings, audit trail and the triage actions of its state, driven through their forms."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from conftest import PHARMACIST, PRESCRIBER, PV_STAFF, Tokens
from litestar.testing import AsyncTestClient
from pages_client import sign_in, submit
from report_bodies import reaction, report, serious
from sqlalchemy import update

from handlers.pages.test_translations import french
from pv_service.clock import utc_now
from pv_service.handlers.pages import triage as triage_pages
from pv_service.storage.database import Database
from pv_service.storage.models import Case

REPORTS = "/api/v1/reports"
IF_MATCH = re.compile(r'name="if_match" value="([^"]+)"')
ROW = re.compile(r'<tr id="case-(\d+)"[^>]*>')
BUTTON = re.compile(r'<button type="submit" name="action" value="(\w+)">')


async def new_case(client: AsyncTestClient[Any], registry: Tokens, **changes: Any) -> dict[str, Any]:
    created = await client.post(REPORTS, json=report(**changes), headers=registry.headers(PRESCRIBER))
    assert created.status_code == 201, created.text
    return {**created.json(), "etag": created.headers["etag"]}


async def staff(client: AsyncTestClient[Any], registry: Tokens) -> None:
    assert (await sign_in(client, registry.by_rpps[PV_STAFF])).status_code == 303


def etag_in(html: str) -> str:
    found = IF_MATCH.search(html)
    assert found, "the page offers no action"
    return unescape(found.group(1))


def queue_ids(html: str) -> list[int]:
    return [int(i) for i in ROW.findall(html)]


async def act(client: AsyncTestClient[Any], case_id: int, action: str, **fields: str) -> Any:
    """Submit the case page's form of ``action`` as a browser would: the page's ETag in ``if_match``."""
    shown = await client.get(f"/cases/{case_id}")
    assert f'value="{action}"' in shown.text, f"{action} is not offered"
    data = {"if_match": etag_in(shown.text), "action": action, **fields}
    return await submit(client, f"/cases/{case_id}", f"/cases/{case_id}/actions", data)


async def must(client: AsyncTestClient[Any], case_id: int, action: str, **fields: str) -> str:
    response = await act(client, case_id, action, **fields)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/cases/{case_id}?done={action}"
    page = await client.get(response.headers["location"])
    assert 'id="action-done"' in page.text
    return page.text


def audited(html: str) -> list[str]:
    trail = html[html.index('id="audit-trail"') :]
    return re.findall(r'<tr data-action="([\w.]+)">', trail)


# --- the queue ----------------------------------------------------------------------------------------


async def test_the_queue_lists_a_new_serious_case_at_the_top(client: AsyncTestClient[Any], registry: Tokens) -> None:
    plain = await new_case(client, registry)
    grave = await new_case(client, registry, reactions=[reaction(seriousness=serious(hospitalisation=True))])
    await staff(client, registry)
    page = await client.get("/queue")
    assert page.status_code == 200
    assert queue_ids(page.text) == [grave["id"], plain["id"]]
    top = page.text[page.text.index(f'id="case-{grave["id"]}"') :]
    assert f'<a href="/cases/{grave["id"]}">{grave["case_number"]}</a>' in top
    assert f'<span class="badge {grave["priority"].lower()}">{grave["priority"]}</span>' in top
    # Labels, never codes: the product and the reaction in words, the state translated (French by default).
    assert "Somnolence" in top and "OIL-T10 (huile" in top and "Reçu" in top
    assert 'id="count-P1"' in page.text and "<dt>Par priorité</dt>" in page.text


async def test_filters_are_get_parameters_that_narrow_the_queue(client: AsyncTestClient[Any], registry: Tokens) -> None:
    plain = await new_case(client, registry)
    grave = await new_case(client, registry, reactions=[reaction(seriousness=serious(death=True), outcome="fatal")])
    dizzy = await new_case(client, registry, reactions=[reaction(code="dizziness", text="vertiges")])
    await staff(client, registry)
    serious_only = await client.get("/queue?serious=true")
    assert queue_ids(serious_only.text) == [grave["id"]]
    assert '<option value="true" selected>' in serious_only.text
    assert set(queue_ids((await client.get("/queue?reaction=dizziness")).text)) == {dizzy["id"]}
    assert set(queue_ids((await client.get("/queue?serious=false&reaction=somnolence")).text)) == {plain["id"]}
    assert queue_ids((await client.get("/queue?priority=P1")).text) == [grave["id"]]
    assert len(queue_ids((await client.get("/queue?priority=P1&priority=P5")).text)) == 3
    by_state = await client.get("/queue?state=in_triage")
    assert queue_ids(by_state.text) == [] and 'id="queue-empty"' in by_state.text
    assert 'id="filter-state-in_triage" name="state" value="in_triage" checked' in by_state.text
    assert queue_ids((await client.get(f"/queue?assignee={PV_STAFF}")).text) == []
    assert len(queue_ids((await client.get("/queue?assignee=none&product=OIL-T10")).text)) == 3


async def test_a_filter_value_not_offered_is_told_beside_its_input(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await new_case(client, registry)
    await staff(client, registry)
    page = await client.get("/queue?serious=maybe&state=lost")
    assert page.status_code == 200
    assert 'aria-invalid="true" aria-describedby="filter-serious-error"' in page.text
    assert 'href="#filter-state"' in page.text and queue_ids(page.text) == []


async def test_the_next_page_link_carries_the_cursor_and_the_filters(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    created = [await new_case(client, registry) for _ in range(3)]
    await staff(client, registry)
    first = await client.get("/queue?limit=2&serious=false")
    assert queue_ids(first.text) == [c["id"] for c in created[:2]]
    link = unescape(re.search(r'<a href="([^"]+)" id="next-page"', first.text).group(1))  # type: ignore[union-attr]
    assert "cursor=" in link and "serious=false" in link and "limit=2" in link
    second = await client.get(link)
    assert queue_ids(second.text) == [created[2]["id"]]
    assert 'id="next-page"' not in second.text and 'id="first-page"' in second.text


async def test_overdue_rows_are_marked_in_words_too(
    client: AsyncTestClient[Any], registry: Tokens, database: Database
) -> None:
    late = await new_case(client, registry)
    fresh = await new_case(client, registry)
    async with database.session() as session, session.begin():
        await session.execute(
            update(Case).where(Case.id == late["id"]).values(triage_due=utc_now() - timedelta(days=1))
        )
    await staff(client, registry)
    page = await client.get("/queue")
    late_row = re.search(rf'<tr id="case-{late["id"]}"[^>]*>.*?</tr>', page.text, re.S).group(0)  # type: ignore[union-attr]
    fresh_row = re.search(rf'<tr id="case-{fresh["id"]}"[^>]*>.*?</tr>', page.text, re.S).group(0)  # type: ignore[union-attr]
    assert 'class="overdue"' in late_row and '<span class="badge overdue">En retard</span>' in late_row
    assert "overdue" not in fresh_row
    assert queue_ids((await client.get("/queue?overdue=true")).text) == [late["id"]]


async def test_the_queue_is_for_pv_staff_only(client: AsyncTestClient[Any], registry: Tokens) -> None:
    assert (await client.get("/queue", follow_redirects=False)).headers["location"] == "/login?next=/queue"
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    assert (await client.get("/queue")).status_code == 403


# --- the case page --------------------------------------------------------------------------------------


async def registry_before_onset(client: AsyncTestClient[Any], registry: Tokens) -> None:
    """RC-000123's records around an onset of 2023-06-01: a step up, a prescription and its dispensation in
    the 90 days before, a prescription long before (RX-1 of 2022, outside), and a step after the onset."""
    patient = "/api/v1/patients/RC-000123"
    steps = [("2023-05-10", 5.0), ("2023-06-20", 2.5)]
    for day, thc in steps:
        body = {"date": day, "daily_thc_mg": thc, "daily_cbd_mg": 0.25}
        made = await client.post(f"{patient}/titration-steps", json=body, headers=registry.headers(PRESCRIBER))
        assert made.status_code == 201, made.text
    prescription = {"id": "RX-MAY", "product": "OIL-T10", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.25,
                    "start_date": "2023-05-01", "days": 28}  # fmt: skip
    made = await client.post(f"{patient}/prescriptions", json=prescription, headers=registry.headers(PRESCRIBER))
    assert made.status_code == 201, made.text
    dispensation = {"id": "DS-MAY", "prescription_id": "RX-MAY", "date": "2023-05-01", "quantity": 14.0,
                    "days_supply": 28}  # fmt: skip
    made = await client.post("/api/v1/dispensations", json=dispensation, headers=registry.headers(PHARMACIST))
    assert made.status_code == 201, made.text


async def test_the_case_page_shows_the_registry_of_the_90_days_before_the_onset(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await registry_before_onset(client, registry)
    case = await new_case(client, registry)
    await staff(client, registry)
    page = await client.get(f"/cases/{case['id']}?lang=en")
    assert page.status_code == 200
    html = page.text
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert '<g class="onset" data-day="2023-06-01">' in svg and "Onset Jun 1" in svg
    assert "Prescription RX-MAY" in svg and "Dispensation DS-MAY" in svg and "RX-1 " not in svg
    registry_tables = html[html.index('id="registry-titration"') : html.index('id="findings"')]
    assert 'id="record-RX-MAY"' in registry_tables and 'id="record-DS-MAY"' in registry_tables
    assert 'id="record-RX-1"' not in registry_tables
    # The step of 2022 is still in force when the period starts; the one after the onset is left out.
    assert 'id="record-step-2022-05-03"' in registry_tables and 'id="record-step-2023-05-10"' in registry_tables
    assert "2023-06-20" not in registry_tables
    assert "OIL-T10 (oil, THC-dominant)" in registry_tables


async def test_the_case_page_shows_the_report_versions_and_deadlines_in_words(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    case = await new_case(client, registry)
    await staff(client, registry)
    html = (await client.get(f"/cases/{case['id']}")).text
    assert f"<h1>Cas {case['case_number']}</h1>" in html
    # The form's labels in French, values by their labels (an outcome, a product), never the raw codes.
    assert "<dt>Évolution</dt><dd>En cours de rétablissement</dd>" in html
    assert "Produit suspect" in html and "recovering" not in html
    assert f'href="/cases/{case["id"]}?version=1#report" aria-current="true"' in html
    assert 'id="case-overdue">Dans les délais' in html


async def test_actions_not_allowed_in_the_state_are_not_offered(client: AsyncTestClient[Any], registry: Tokens) -> None:
    case = await new_case(client, registry)
    await staff(client, registry)
    received = set(BUTTON.findall((await client.get(f"/cases/{case['id']}")).text))
    assert received == {"start", "assign", "mark_duplicate", "nullify"}
    await must(client, case["id"], "start")
    in_triage = set(BUTTON.findall((await client.get(f"/cases/{case['id']}")).text))
    assert in_triage == {"assign", "code", "set_seriousness", "assess", "request_follow_up", "mark_duplicate",
                         "forward", "nullify"}  # fmt: skip


async def test_pv_staff_triage_a_case_through_the_page_forms_and_each_action_is_audited(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    case = await new_case(client, registry, reactions=[reaction(code=None, text="vertiges au lever")])
    await staff(client, registry)
    cid = case["id"]
    await must(client, cid, "start")
    html = await must(client, cid, "code", reaction="0", code="dizziness")
    assert "Sensations vertigineuses" in html[html.index('id="case-reactions"') :]
    html = await must(client, cid, "assess", reaction="0", who_umc="probable", chronology="C2", semiology="S2")
    score = html[html.index('class="intrinsic-score"') :]
    assert score.startswith('class="intrinsic-score"><strong>I2 plausible</strong>')
    html = await must(client, cid, "request_follow_up", message="Quelle dose au moment des faits ?")
    assert "En attente de complément" in html and "Quelle dose au moment des faits ?" in html
    follow_up = await client.post(f"{REPORTS}/{cid}/follow-ups", json=report(), headers=registry.headers(PRESCRIBER))
    assert follow_up.status_code == 201, follow_up.text
    html = await must(client, cid, "forward", destination="crpv", reference="CRPV-2023-17")
    assert 'id="case-forwarded"><time' in html
    await must(client, cid, "assess", reaction="0", who_umc="probable")
    html = await must(client, cid, "close", reason="Évalué et transmis")
    assert 'id="case-state">Clôturé' in html
    assert audited(html) == [
        "case.create", "case.start", "case.code", "case.assess", "case.request_follow_up", "case.follow_up",
        "case.forward", "case.assess", "case.close",
    ]  # fmt: skip
    assert '<th scope="row">Imputabilité évaluée</th>' in html
    every = (await client.get(f"/cases/{cid}?audit=all")).text
    assert "case.read" in audited(every)


async def test_a_stale_if_match_says_the_case_changed_and_shows_it_fresh(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    case = await new_case(client, registry)
    await staff(client, registry)
    first_tab = await client.get(f"/cases/{case['id']}")
    old = etag_in(first_tab.text)
    assert await must(client, case["id"], "start")
    response = await submit(
        client, f"/cases/{case['id']}", f"/cases/{case['id']}/actions", {"if_match": old, "action": "start"}
    )
    assert response.status_code == 200
    assert 'id="stale-notice"' in response.text and "a été modifié depuis que vous l'avez ouvert" in response.text
    assert 'id="case-state">En cours de tri' in response.text
    assert etag_in(response.text) != old and 'value="start"' not in response.text


async def test_a_value_that_does_not_convert_is_a_field_error(client: AsyncTestClient[Any], registry: Tokens) -> None:
    case = await new_case(client, registry)
    await staff(client, registry)
    await must(client, case["id"], "start")
    response = await act(client, case["id"], "assess", reaction="first", who_umc="possible")
    assert response.status_code == 200
    html = response.text
    assert (
        '<select id="assess-reaction" name="reaction" aria-invalid="true" aria-describedby="assess-reaction-error">'
        in html
    )
    assert '<span class="field-error" id="assess-reaction-error">Doit être un nombre entier.</span>' in html
    assert '<a href="#assess-reaction">' in html[html.index('id="error-summary"') :]
    # What was typed is kept.
    assert '<option value="possible" selected>' in html


async def test_a_rule_the_action_breaks_is_told_beside_its_fields(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    case = await new_case(client, registry, reactions=[reaction(seriousness=serious(hospitalisation=True))])
    await staff(client, registry)
    await must(client, case["id"], "start")
    half = await act(client, case["id"], "assess", reaction="0", chronology="C2")
    assert half.status_code == 200
    assert 'id="assess-semiology" name="semiology" aria-invalid="true"' in half.text
    await must(client, case["id"], "assess", reaction="0", who_umc="possible")
    refused = await act(client, case["id"], "close")
    assert refused.status_code == 200
    summary = refused.text[refused.text.index('id="error-summary"') :]
    assert 'href="#action-close"' in summary and "transmis" in summary
    assert 'id="action-close-error"' in refused.text


async def test_an_unknown_case_is_a_not_found_page(client: AsyncTestClient[Any], registry: Tokens) -> None:
    await staff(client, registry)
    assert (await client.get("/cases/999999")).status_code == 404


def test_every_word_of_the_triage_pages_has_its_french() -> None:
    """Words the Python of these pages shows (marked N_, or said through ``say``/``gettext``)."""
    known = french()
    files = [Path(triage_pages.__file__), Path(triage_pages.__file__).parents[2] / "cases" / "timeline.py"]
    missing = [
        message
        for path in files
        for _, message, _, _ in extract_from_file("python", path, keywords={"N_": None, "say": None, "gettext": None})
        if isinstance(message, str) and not known.get(message)
    ]
    assert missing == []


@pytest.mark.parametrize("action", triage_pages.ACTIONS)
def test_every_action_has_a_label_and_its_fields(action: str) -> None:
    assert action in triage_pages.ACTION_LABELS and action in triage_pages.ACTION_FIELDS


async def test_the_address_of_an_answered_action_reads_the_case_again(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    case = await new_case(client, registry)
    await staff(client, registry)
    response = await client.get(f"/cases/{case['id']}/actions?lang=en", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/cases/{case['id']}?lang=en"


async def test_a_stale_if_match_is_told_before_what_was_typed_is_judged(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    case = await new_case(client, registry)
    await staff(client, registry)
    old = etag_in((await client.get(f"/cases/{case['id']}")).text)
    await must(client, case["id"], "start")
    data = {"if_match": old, "action": "assess", "reaction": "first"}
    response = await submit(client, f"/cases/{case['id']}", f"/cases/{case['id']}/actions", data)
    assert 'id="stale-notice"' in response.text and 'aria-invalid="true"' not in response.text


async def test_an_action_the_state_refuses_is_said_in_words(client: AsyncTestClient[Any], registry: Tokens) -> None:
    case = await new_case(client, registry)
    await staff(client, registry)
    await must(client, case["id"], "start")
    fresh = etag_in((await client.get(f"/cases/{case['id']}")).text)
    data = {"if_match": fresh, "action": "start"}
    response = await submit(client, f"/cases/{case['id']}", f"/cases/{case['id']}/actions", data)
    assert response.status_code == 200
    summary = unescape(response.text[response.text.index('id="error-summary"') :].split("</div>")[0])
    assert "Cette action n'est pas permise dans l'état actuel du cas." in summary and "in_triage" not in summary


async def test_each_version_of_the_report_can_be_read_on_the_case_page(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    case = await new_case(client, registry)
    later = report(narrative="Somnolence résolue après réduction de dose.")
    assert await client.post(f"{REPORTS}/{case['id']}/follow-ups", json=later, headers=registry.headers(PRESCRIBER))
    await staff(client, registry)
    last = (await client.get(f"/cases/{case['id']}")).text
    assert "dans son dernier état (version 2)" in last and "Somnolence résolue" in last
    first = (await client.get(f"/cases/{case['id']}?version=1")).text
    assert "dans sa version 1 sur 2" in first and "Somnolence apparue après augmentation de dose." in first
    assert f'href="/cases/{case["id"]}?version=1#report" aria-current="true"' in first
