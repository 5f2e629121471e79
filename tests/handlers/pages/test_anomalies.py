"""The anomalies page (SPEC §15): the cross-check findings, filtered by kind, patient and date, each in
words and linked to its cases."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from conftest import PRESCRIBER, PV_STAFF, Tokens, import_records
from jobs.test_service import narcotic_supply_registry, troubled_registry
from litestar.testing import AsyncTestClient
from pages_client import sign_in
from report_bodies import reaction, report

from handlers.pages.test_translations import french
from pv_service.clock import utc_now
from pv_service.config import Settings
from pv_service.handlers.pages import anomalies as anomaly_pages
from pv_service.handlers.pages import labels as page_labels
from pv_service.jobs.schemas import AnomalyView

DAY = (utc_now().date() - timedelta(days=2)).isoformat()


async def findings(client: AsyncTestClient[Any], registry: Tokens, settings: Settings) -> dict[str, Any]:
    """The troubled registry, a case whose reported dose is not what was dispensed, and the dose cross-check."""
    assert (await import_records(settings, troubled_registry())).failed == 0
    body = report(
        suspect_product={"code": "OIL-T10", "daily_thc_mg": 20.0}, reactions=[reaction(onset_date="2022-05-20")]
    )
    created = await client.post("/api/v1/reports", json=body, headers=registry.headers(PRESCRIBER))
    assert created.status_code == 201, created.text
    run = await client.post(
        "/api/v1/jobs/dose-crosscheck/runs", json={"period": DAY}, headers=registry.headers(PV_STAFF)
    )
    assert run.status_code == 201 and run.json()["status"] == "succeeded", run.text
    await sign_in(client, registry.by_rpps[PV_STAFF])
    return created.json()


def rows(html: str) -> dict[str, str]:
    """Each finding's row by its kind code."""
    found = re.findall(r'<tr id="anomaly-\d+" data-kind="([a-z_0-9]+)">(.*?)</tr>', html, re.S)
    return {kind: unescape(row) for kind, row in found}


async def test_the_page_lists_each_finding_in_words_with_links_to_its_cases(
    client: AsyncTestClient[Any], registry: Tokens, settings: Settings
) -> None:
    case = await findings(client, registry, settings)
    response = await client.get("/anomalies")
    assert response.status_code == 200
    found = rows(response.text)
    assert {"early_refill", "quantity_above_prescribed", "reported_dose_mismatch"} <= set(found)
    mismatch = found["reported_dose_mismatch"]
    assert f'<a href="/cases/{case["id"]}">{case["case_number"]}</a>' in mismatch
    assert "Dose déclarée différente de la dose délivrée" in mismatch
    assert "Le cas déclare 20 mg de THC par jour au début de l'effet (20 mai 2022)" in mismatch
    early = found["early_refill"]
    assert "Délivrance trop précoce" in early and "RX-2" in early and "DS-3" in early
    assert "Délivrance du 5 juin 2022, 4 jours après la précédente (1 juin 2022" in early
    assert '<a href="/anomalies?patient=RC-000123"' in early
    assert "early_refill" not in re.sub(r"<[^>]+>", " ", response.text)


async def test_filters_narrow_the_findings_by_kind_patient_and_date(
    client: AsyncTestClient[Any], registry: Tokens, settings: Settings
) -> None:
    await findings(client, registry, settings)
    by_kind = await client.get("/anomalies", params={"kind": "early_refill"})
    assert set(rows(by_kind.text)) == {"early_refill"}
    assert '<input type="checkbox" name="kind" value="early_refill" id="kind-early_refill" checked>' in by_kind.text
    two_kinds = await client.get("/anomalies", params=[("kind", "early_refill"), ("kind", "reported_dose_mismatch")])
    assert set(rows(two_kinds.text)) == {"early_refill", "reported_dose_mismatch"}
    other_patient = await client.get("/anomalies", params={"patient": "RC-000200"})
    assert rows(other_patient.text) == {} and 'id="no-finding"' in other_patient.text
    assert 'value="RC-000200"' in other_patient.text
    tomorrow = (utc_now().date() + timedelta(days=1)).isoformat()
    assert rows((await client.get("/anomalies", params={"since": tomorrow})).text) == {}
    assert rows((await client.get("/anomalies", params={"since": DAY})).text)


async def test_a_date_the_filters_cannot_take_is_said_beside_its_field(
    client: AsyncTestClient[Any], registry: Tokens, settings: Settings
) -> None:
    await findings(client, registry, settings)
    for since in ("0001-01-01", "le 3 mars"):
        response = await client.get("/anomalies", params={"since": since})
        assert response.status_code == 200
        field = re.search(r'<input id="since"[^>]*>', response.text, re.S)
        assert field and 'aria-invalid="true"' in field.group(0) and 'aria-describedby="since-error"' in field.group(0)
        assert 'id="since-error"' in response.text and '<a href="#since">' in response.text


async def test_findings_page_by_keyset(client: AsyncTestClient[Any], registry: Tokens, settings: Settings) -> None:
    await findings(client, registry, settings)
    first = await client.get("/anomalies")
    assert 'id="next-page"' not in first.text  # fewer than a page
    bad = await client.get("/anomalies", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/html")


async def test_the_anomalies_page_is_for_pv_staff(client: AsyncTestClient[Any], registry: Tokens) -> None:
    await sign_in(client, registry.by_rpps[PRESCRIBER])
    assert (await client.get("/anomalies")).status_code == 403


def test_every_word_the_pages_say_from_code_has_its_french() -> None:
    """Kind labels, ratio classes and finding sentences are written in Python: each has its French too."""
    entries = french()
    for module in (page_labels, anomaly_pages):
        for _, message, _, _ in extract_from_file("python", module.__file__, keywords={"N_": None}):
            assert entries.get(message), message


def test_every_kind_of_finding_has_a_label_and_a_sentence() -> None:
    from pv_service.rules.findings import ANOMALY_KINDS

    worded = set(anomaly_pages.SENTENCES) | {"temporal_association", "positive_dechallenge", "positive_rechallenge"}
    assert set(ANOMALY_KINDS) == set(page_labels.ANOMALY_KINDS) == worded


async def test_narcotic_supply_findings_are_said_in_words(
    client: AsyncTestClient[Any], registry: Tokens, settings: Settings
) -> None:
    assert (await import_records(settings, narcotic_supply_registry())).failed == 0
    run = await client.post(
        "/api/v1/jobs/dose-crosscheck/runs", json={"period": DAY}, headers=registry.headers(PV_STAFF)
    )
    assert run.status_code == 201, run.text
    await sign_in(client, registry.by_rpps[PV_STAFF])
    found = rows((await client.get("/anomalies")).text)
    assert (
        "Ordonnance sécurisée du 20 mai 2022 présentée pour la première fois le 25 mai 2022, 5 jours"
        in found["late_presentation"]
    )
    assert (
        "Deux ordonnances sécurisées se chevauchent sur 11 jours : RX-1 (du 3 mai 2022 au 30 mai 2022)"
        in found["overlapping_prescriptions"]
    )
    assert (
        "Deux pharmaciens ont délivré sur des périodes qui se chevauchent : DS-1 le 3 mai 2022"
        in found["multiple_pharmacies"]
    )
    assert "hors de la période de l'ordonnance (du 20 mai 2022 au 16 juin 2022)" in found["supply_outside_prescription"]


def labels_in(lang: str) -> page_labels.Labels:
    from zoneinfo import ZoneInfo

    from pv_service.reference import load_reference

    return page_labels.Labels(reference=load_reference(None), lang=lang, zone=ZoneInfo("Europe/Paris"))


def finding(kind: str, detail: dict[str, Any]) -> AnomalyView:
    return AnomalyView(id=1, kind=kind, patient="RC-000123", records=[], cases=[1], detail=detail, first_seen=utc_now())  # type: ignore[arg-type]


SOMNOLENCE = {"case_id": 1, "code": "somnolence", "text": "somnolent", "onset": "2022-05-10", "end": None,
              "outcome": "recovering"}  # fmt: skip
FREE_TEXT = {"case_id": 1, "code": None, "text": "vertiges le soir", "onset": None, "end": None, "outcome": None}


@pytest.mark.parametrize(
    ("kind", "detail", "said"),
    [
        (
            "temporal_association",
            {"increase_date": "2022-05-05", "increase_daily_thc_mg": 6.0, "increase_daily_cbd_mg": 0.3,
             "initiation": False, "temporal_association_days": 7, "reactions": [SOMNOLENCE, FREE_TEXT]},
            "Somnolence (début le 10 mai 2022), vertiges le soir : début dans les 7 jours suivant l'augmentation de"
            " dose du 5 mai 2022 (à 6 mg de THC par jour).",
        ),
        (
            "temporal_association",
            {"increase_date": "2022-05-03", "increase_daily_thc_mg": 1.0, "increase_daily_cbd_mg": 0.05,
             "initiation": True, "temporal_association_days": 7, "reactions": [SOMNOLENCE]},
            "suivant l'instauration du traitement (3 mai 2022).",
        ),
        (
            "positive_dechallenge",
            {"previous_date": "2022-05-05", "reduction_date": "2022-05-12", "temporal_association_days": 7,
             "reactions": [SOMNOLENCE]},
            "Somnolence (début le 10 mai 2022) : régression dans les 7 jours suivant la diminution de dose du 12 mai"
            " 2022.",
        ),
        (
            "positive_dechallenge",
            {"withdrawal_date": "2022-06-01", "temporal_association_days": 7, "reactions": [SOMNOLENCE]},
            "suivant l'arrêt (1 juin 2022).",
        ),
        (
            "positive_rechallenge",
            {"reduction_date": "2022-05-12", "reincrease_date": "2022-06-01", "temporal_association_days": 7,
             "dechallenged": [SOMNOLENCE], "recurrences": [{**SOMNOLENCE, "onset": "2022-06-03"}]},
            "Somnolence (début le 10 mai 2022) : régression après la diminution de dose du 12 mai 2022, puis"
            " réapparition dans les 7 jours suivant la réaugmentation du 1 juin 2022 : Somnolence (début le 3 juin"
            " 2022).",
        ),
        ("titration_above_max_dose", {"step_date": "2022-06-01", "step_daily_thc_mg": 45.5, "max_daily_thc_mg": 40.0},
         "Le 1 juin 2022, la dose quotidienne de THC était de 45,5 mg, au-delà du maximum de 40 mg du protocole."),
        ("follow_up_overdue", {"case_number": "PV-2026-000001", "reply_by": "2026-03-01"},
         "Cas PV-2026-000001 : le complément demandé était attendu pour le 1 mars 2026 et n'a pas été fourni."),
        ("early_refill", {"unexpected": "shape"}, "Détails : unexpected shape."),
    ],
)  # fmt: skip
def test_a_finding_is_said_in_a_sentence_of_the_readers_language(kind: str, detail: dict[str, Any], said: str) -> None:
    assert said in anomaly_pages.finding_sentence(labels_in("fr"), finding(kind, detail))
