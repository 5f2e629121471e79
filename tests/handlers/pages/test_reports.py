"""The reporter's pages (SPEC §15): their cases, the reporting-aid form with its errors, the confirmation,
one case and its follow-up form. Driven over HTTP as a browser would: the form is read back from the
page (hidden inputs, ticked boxes, chosen options) and sent with what the reporter types."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape
from html.parser import HTMLParser
from typing import Any

from conftest import OTHER_PRESCRIBER, PHARMACIST, PRESCRIBER, PV_STAFF, Tokens
from httpx import Response
from litestar.testing import AsyncTestClient
from pages_client import sign_in
from report_bodies import report

from pv_service.cases.form_body import input_id

FormData = list[tuple[str, str]]


class _FormReader(HTMLParser):
    """What a browser would send from the page's form posting to ``action``, untouched."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside = action, False
        self.fields: FormData = []
        self.select: str | None = None
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        attrs = {k: v or "" for k, v in attributes}
        if tag == "form":
            self.inside = attrs.get("action") == self.action
        if not self.inside:
            return
        name = attrs.get("name", "")
        if tag == "input" and name and attrs.get("type") not in ("submit", "checkbox", "radio"):
            self.fields.append((name, attrs.get("value", "")))
        elif tag == "input" and name and "checked" in attrs:
            self.fields.append((name, attrs.get("value", "on")))
        elif tag == "select":
            self.select = name
        elif tag == "option" and self.select and "selected" in attrs:
            self.fields.append((self.select, attrs.get("value", "")))
        elif tag == "textarea":
            self.textarea, self.text = name, ""

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea" and self.textarea:
            self.fields.append((self.textarea, self.text))
            self.textarea = None


def form_of(html: str, action: str) -> FormData:
    reader = _FormReader(action)
    reader.feed(html)
    return reader.fields


def typed(form: FormData, changes: dict[str, str | list[str]]) -> FormData:
    """The form with these inputs typed (a list for boxes sharing a name), the others as they were."""
    kept = [(name, value) for name, value in form if name not in changes]
    for name, value in changes.items():
        kept += [(name, v) for v in value] if isinstance(value, list) else [(name, value)]
    return kept


async def post(client: AsyncTestClient[Any], action: str, form: FormData, **extra: str) -> Response:
    data: dict[str, list[str]] = {}
    for name, value in [*form, *extra.items()]:
        data.setdefault(name, []).append(value)
    return await client.post(action, data=data, follow_redirects=False)


async def new_form(client: AsyncTestClient[Any], lang: str = "") -> tuple[Response, FormData]:
    shown = await client.get("/reports/new" + (f"?lang={lang}" if lang else ""))
    assert shown.status_code == 200, shown.text
    return shown, form_of(shown.text, "/reports/new")


def element(html: str, element_id: str) -> str:
    """The start tag of the element with this id."""
    found = re.search(rf'<[a-z0-9]+ [^>]*id="{re.escape(element_id)}"[^>]*>', html)
    assert found is not None, f"no element #{element_id}"
    return found.group(0)


def text_of(html: str, element_id: str) -> str:
    """The text inside the element with this id (up to its tag's first closing tag)."""
    start = element(html, element_id)
    tag = start[1:].split(" ")[0]
    inside = html[html.index(start) + len(start) :]
    inside = inside[: inside.index(f"</{tag}>")]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", inside)).split())


def assert_in_error(html: str, name: str, message: str) -> None:
    """The input ``name`` is marked invalid and described by the element holding ``message``."""
    tag = element(html, input_id(name))
    assert 'aria-invalid="true"' in tag, tag
    described = re.search(r'aria-describedby="([^"]+)"', tag)
    assert described is not None, tag
    assert any(message in text_of(html, ref) for ref in described.group(1).split()), (name, message)
    summary = html[html.index('class="error-summary"') :]
    assert f'href="#{input_id(name)}"' in summary[: summary.index("</div>")]


GOOD = {
    "patient.registry_id": "RC-000123",
    "patient.weight_kg": "62,5",
    "suspect_product.code": "OIL-T10",
    "suspect_product.daily_thc_mg": "5",
    "reactions[0].text": "somnolence marquée le matin",
    "reactions[0].code": "somnolence",
    "reactions[0].onset_date": "2023-06-01",
    "reactions[0].outcome": "recovering",
    "narrative": "Somnolence apparue après augmentation de dose.",
}


async def reports_of(client: AsyncTestClient[Any], registry: Tokens) -> list[dict[str, Any]]:
    listed = await client.get("/api/v1/reports", headers=registry.headers(PV_STAFF))
    return listed.json()["items"]  # type: ignore[no-any-return]


# --- the form -------------------------------------------------------------------------------------------


async def test_each_input_is_named_after_its_body_path_and_labelled_by_the_forms_label(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    shown, _ = await new_form(client)
    html = shown.text
    for name, label in [
        ("patient.registry_id", "Identifiant ReCann du patient"),
        ("patient.weight_kg", "Poids (kg)"),
        ("reactions[0].onset_date", "Date de début"),
        ("reactions[0].seriousness.death", "Décès"),
        ("suspect_product.code", "Produit"),
        ("narrative", "Description du cas"),
    ]:
        tag = element(html, input_id(name))
        assert f'name="{name}"' in tag
        assert re.search(rf'<label for="{input_id(name)}">{re.escape(label)}', html), name
    assert 'type="date"' in element(html, input_id("reactions[0].onset_date"))
    assert 'type="checkbox"' in element(html, input_id("reactions[0].seriousness.death"))
    assert html.count('name="special_situations"') == 8
    assert "Surdosage" in html and "<select" in element(html, input_id("reactions[0].outcome"))
    assert 'aria-required="true"' in element(html, input_id("patient.registry_id"))
    assert 'name="reactions[1].text"' not in html
    assert re.search(r'name="idempotency_key" value="[A-Za-z0-9_-]{32}"', html)


async def test_a_report_with_two_mistakes_shows_each_beside_its_field_and_in_the_summary(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    _, form = await new_form(client)
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    mistaken = {**GOOD, "reactions[0].onset_date": tomorrow, "suspect_product.code": ""}
    answer = await post(client, "/reports/new", typed(form, mistaken))
    assert answer.status_code == 200
    html = answer.text
    assert 'class="error-summary" role="alert"' in html and 'tabindex="-1"' in element(html, "error-summary-title")
    assert_in_error(html, "reactions[0].onset_date", "dans le futur")
    assert_in_error(html, "suspect_product.code", "obligatoire")
    # What was typed stays.
    sent_back = dict(form_of(html, "/reports/new"))
    assert sent_back["reactions[0].onset_date"] == tomorrow
    assert sent_back["patient.weight_kg"] == "62,5"
    assert sent_back["narrative"] == GOOD["narrative"]
    assert sent_back["patient.registry_id"] == "RC-000123"
    assert await reports_of(client, registry) == []


async def test_the_corrected_report_gets_its_case_number_and_what_is_still_missing(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    _, form = await new_form(client)
    mistaken = await post(client, "/reports/new", typed(form, {**GOOD, "suspect_product.code": ""}))
    corrected = typed(form_of(mistaken.text, "/reports/new"), {"suspect_product.code": "OIL-T10"})
    answer = await post(client, "/reports/new", corrected)
    assert answer.status_code == 200, answer.text
    (case,) = await reports_of(client, registry)
    assert text_of(answer.text, "case-number") == case["case_number"]
    assert text_of(answer.text, "case-priority") == case["priority"]
    missing = text_of(answer.text, "missing-fields")
    assert "Numéro de lot" in missing and "Intensité (Effet 1)" in missing
    assert "suspect_product.batch" not in answer.text
    assert "%" in text_of(answer.text, "case-completeness")


async def test_a_form_sent_twice_makes_one_case(client: AsyncTestClient[Any], registry: Tokens) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    _, form = await new_form(client)
    first = await post(client, "/reports/new", typed(form, GOOD))
    again = await post(client, "/reports/new", typed(form, GOOD))
    assert text_of(first.text, "case-number") == text_of(again.text, "case-number")
    assert len(await reports_of(client, registry)) == 1
    # Changed after it was sent: told, and a new key lets it be filed as another report.
    changed = await post(client, "/reports/new", typed(form, {**GOOD, "narrative": "Autre chose."}))
    assert changed.status_code == 200 and "déjà été envoyé" in changed.text
    assert len(await reports_of(client, registry)) == 1
    other = await post(client, "/reports/new", form_of(changed.text, "/reports/new"))
    assert text_of(other.text, "case-number") != text_of(first.text, "case-number")


async def test_add_reaction_shows_a_second_block_keeping_what_was_typed(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    _, form = await new_form(client)
    answer = await post(
        client,
        "/reports/new",
        typed(form, {**GOOD, "reactions[0].seriousness.hospitalisation": "true"}),
        add_reaction="1",
    )
    assert answer.status_code == 200
    html = answer.text
    assert "error-summary" not in html
    for field in ("text", "code", "onset_date", "outcome", "severity", "seriousness.death"):
        assert f'name="reactions[1].{field}"' in html
    assert "autofocus" in element(html, input_id("reactions[1].text"))
    sent_back = form_of(html, "/reports/new")
    assert ("reactions[0].seriousness.hospitalisation", "true") in sent_back
    assert dict(sent_back)["reactions[0].text"] == GOOD["reactions[0].text"]
    # Filled in, the second reaction is sent with the first.
    two = typed(sent_back, {"reactions[1].text": "vertiges", "reactions[1].code": "dizziness"})
    done = await post(client, "/reports/new", two)
    assert "case-number" in done.text, done.text
    (case,) = await reports_of(client, registry)
    detail = (await client.get(f"/api/v1/reports/{case['id']}", headers=registry.headers(PRESCRIBER))).json()
    assert [r["text"] for r in detail["report"]["reactions"]] == ["somnolence marquée le matin", "vertiges"]
    assert detail["report"]["reactions"][0]["seriousness"]["hospitalisation"] is True


async def test_a_number_field_holding_text_is_a_field_error(client: AsyncTestClient[Any], registry: Tokens) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    _, form = await new_form(client)
    answer = await post(
        client, "/reports/new", typed(form, {**GOOD, "patient.weight_kg": "soixante", "reactions[0].end_date": "hier"})
    )
    assert answer.status_code == 200
    assert_in_error(answer.text, "patient.weight_kg", "nombre")
    assert_in_error(answer.text, "reactions[0].end_date", "date")
    assert dict(form_of(answer.text, "/reports/new"))["patient.weight_kg"] == "soixante"
    assert await reports_of(client, registry) == []


# --- whose patients -------------------------------------------------------------------------------------


async def test_the_patient_list_holds_only_the_reporters_own_patients(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    shown, _ = await new_form(client)
    options = re.findall(r'<option value="(RC-[^"]+)"[^>]*>([^<]+)<', shown.text)
    assert [value for value, _ in options] == ["RC-000123"]
    label = unescape(options[0][1])
    assert "3 mai 2022" in label and "OIL-T10" in label and "Douleurs neuropathiques" in label
    await sign_in(client, registry.by_rpps[PHARMACIST])
    pharmacist_page, _ = await new_form(client)
    assert 'value="RC-000123"' in pharmacist_page.text and "RC-000200" not in pharmacist_page.text


async def test_a_patient_of_another_prescriber_is_refused_without_being_shown(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    _, form = await new_form(client)
    answer = await post(client, "/reports/new", typed(form, {**GOOD, "patient.registry_id": "RC-000200"}))
    assert answer.status_code == 200
    assert_in_error(answer.text, "patient.registry_id", "ne fait pas partie de votre périmètre")
    assert "RC-000200" not in answer.text
    assert await reports_of(client, registry) == []


# --- my reports, one case, its follow-up -----------------------------------------------------------------


async def _filed(client: AsyncTestClient[Any], registry: Tokens, **changes: Any) -> dict[str, Any]:
    body = report(**changes)
    answer = await client.post("/api/v1/reports", json=body, headers=registry.headers(PRESCRIBER))
    assert answer.status_code == 201, answer.text
    return {**answer.json(), "etag": answer.headers["etag"]}


async def _ask_follow_up(client: AsyncTestClient[Any], registry: Tokens, case: dict[str, Any], message: str) -> None:
    url = f"/api/v1/reports/{case['id']}/actions"
    etag = case["etag"]
    for action in ({"action": "start"}, {"action": "request_follow_up", "message": message}):
        done = await client.post(url, json=action, headers={**registry.headers(PV_STAFF), "If-Match": etag})
        assert done.status_code == 200, done.text
        etag = done.headers["etag"]


async def test_my_reports_lists_each_case_with_what_is_missing_and_open_follow_up_requests(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    case = await _filed(client, registry, narrative=None)
    await _ask_follow_up(client, registry, case, "Merci de préciser la dose au moment des faits.")
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    page = await client.get("/reports")
    assert page.status_code == 200
    row = page.text[page.text.index(f'id="case-{case["id"]}"') :]
    row = row[: row.index("</tr>")]
    assert case["case_number"] in row and f'href="/reports/{case["id"]}"' in row
    assert "Description du cas" in row and "Merci de préciser la dose au moment des faits." in row
    assert "En attente de complément" in row
    assert '<th scope="col">' in page.text
    # Another prescriber does not see it.
    await sign_in(client, registry.by_rpps[OTHER_PRESCRIBER])
    assert case["case_number"] not in (await client.get("/reports")).text


async def test_the_follow_up_form_is_filled_with_the_last_version_and_makes_version_2(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    case = await _filed(client, registry)
    await _ask_follow_up(client, registry, case, "Évolution ?")
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    page = await client.get(f"/reports/{case['id']}")
    assert page.status_code == 200
    assert "Évolution ?" in page.text and case["case_number"] in page.text
    form = form_of(page.text, f"/reports/{case['id']}/follow-up")
    filled = dict(form)
    assert filled["patient.registry_id"] == "RC-000123"
    assert filled["patient.weight_kg"] == "62"
    assert filled["reactions[0].onset_date"] == "2023-06-01"
    assert filled["reactions[0].code"] == "somnolence"
    assert filled["concomitant_medicines"] == "prégabaline 150 mg x2/j"
    assert (
        filled["if_match"]
        == (await client.get(f"/api/v1/reports/{case['id']}", headers=registry.headers(PRESCRIBER))).headers["etag"]
    )
    answer = await post(client, f"/reports/{case['id']}/follow-up", typed(form, {"reactions[0].outcome": "recovered"}))
    assert answer.status_code == 200 and "version 2" in answer.text.lower(), answer.text
    detail = (await client.get(f"/api/v1/reports/{case['id']}", headers=registry.headers(PRESCRIBER))).json()
    assert detail["version"] == 2 and detail["report"]["reactions"][0]["outcome"] == "recovered"
    assert detail["report"]["concomitant_medicines"] == ["prégabaline 150 mg x2/j"]
    assert detail["follow_up_requests"][0]["answered_version"] == 2


async def test_a_follow_up_on_a_case_that_changed_since_is_told_with_the_fresh_case(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    case = await _filed(client, registry)
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    page = await client.get(f"/reports/{case['id']}")
    form = form_of(page.text, f"/reports/{case['id']}/follow-up")
    # Meanwhile, in another tab, a follow-up is sent.
    first = await post(client, f"/reports/{case['id']}/follow-up", typed(form, {"reactions[0].severity": "mild"}))
    assert "version 2" in first.text.lower()
    stale = await post(client, f"/reports/{case['id']}/follow-up", typed(form, {"reactions[0].severity": "severe"}))
    assert stale.status_code == 200
    assert "a changé depuis que vous l'avez lu" in text_of(stale.text, "stale-notice")
    fresh = dict(form_of(stale.text, f"/reports/{case['id']}/follow-up"))
    assert fresh["reactions[0].severity"] == "mild"
    assert fresh["if_match"] != dict(form)["if_match"]
    detail = (await client.get(f"/api/v1/reports/{case['id']}", headers=registry.headers(PRESCRIBER))).json()
    assert detail["version"] == 2


async def test_a_follow_up_with_an_error_shows_it_beside_its_field(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    case = await _filed(client, registry)
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    page = await client.get(f"/reports/{case['id']}")
    form = form_of(page.text, f"/reports/{case['id']}/follow-up")
    answer = await post(
        client, f"/reports/{case['id']}/follow-up", typed(form, {"reactions[0].end_date": "2023-05-01"})
    )
    assert answer.status_code == 200
    assert_in_error(answer.text, "reactions[0].end_date", "précède")
    assert dict(form_of(answer.text, f"/reports/{case['id']}/follow-up"))["reactions[0].end_date"] == "2023-05-01"


async def test_a_case_outside_reach_is_not_found(client: AsyncTestClient[Any], registry: Tokens) -> None:
    case = await _filed(client, registry)
    await sign_in(client, registry.by_rpps[OTHER_PRESCRIBER])
    assert (await client.get(f"/reports/{case['id']}")).status_code == 404
    assert (await client.get("/reports/999999999")).status_code == 404


async def test_the_reporters_pages_are_not_for_pv_staff(client: AsyncTestClient[Any], registry: Tokens) -> None:
    await sign_in(client, registry.by_rpps[PV_STAFF])
    assert (await client.get("/reports/new")).status_code == 403


# --- language -----------------------------------------------------------------------------------------


async def test_labels_are_french_by_default_and_english_on_lang_en(
    client: AsyncTestClient[Any], registry: Tokens
) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    french, _ = await new_form(client)
    assert (
        '<html lang="fr">' in french.text and "Date de début" in french.text and "Envoyer la déclaration" in french.text
    )
    english, form = await new_form(client, lang="en")
    assert '<html lang="en">' in english.text
    assert f'<label for="{input_id("reactions[0].onset_date")}">Onset date' in english.text
    assert "Send the report" in english.text and "Date de début" not in english.text
    # Remembered, errors included.
    answer = await post(client, "/reports/new", typed(form, {**GOOD, "suspect_product.code": ""}))
    assert '<html lang="en">' in answer.text and "is required" in answer.text
