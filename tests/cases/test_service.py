"""SPEC §3, §4, §12, §14: intake through HTTP — checks in order, seriousness, priority, PII, idempotency."""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import ADMIN, OTHER_PRESCRIBER, PHARMACIST, PRESCRIBER, PV_STAFF, Tokens
from litestar.testing import AsyncTestClient
from report_bodies import reaction, report, serious
from sqlalchemy import select, text

from pv_service.storage.database import Database
from pv_service.storage.models import Base

REPORTS = "/api/v1/reports"


async def submit(
    client: AsyncTestClient, registry: Tokens, body: dict[str, Any], rpps: str = PRESCRIBER, **headers: str
):
    return await client.post(REPORTS, json=body, headers={**registry.headers(rpps), **headers})


def codes(response: Any) -> set[tuple[str, str]]:
    return {(e["field"], e["code"]) for e in response.json()["errors"]}


# --- acceptance and the answer's shape -------------------------------------------------------------------


async def test_valid_report_is_accepted_with_its_assessment(client: AsyncTestClient, registry: Tokens) -> None:
    response = await submit(client, registry, report())
    assert response.status_code == 201, response.text
    body = response.json()
    year = datetime.now(UTC).year
    assert re.fullmatch(rf"PV-({year}|{year + 1})-\d{{6}}", body["case_number"])
    assert (body["version"], body["state"], body["serious"], body["expected"]) == (1, "received", False, True)
    assert body["seriousness"] == {"case": [], "reactions": [[]]}
    assert body["priority"] == "P5"
    assert body["completeness"] == 1.0 and body["missing"] == []
    assert body["possible_duplicates"] == [] and body["suggested_criteria"] == []
    assert response.headers["etag"].startswith('"') and response.headers["etag"].endswith('"')
    received = datetime.fromisoformat(body["received_at"])
    assert datetime.fromisoformat(body["triage_due"]) - received == timedelta(days=7)
    assert datetime.fromisoformat(body["forward_due"]) - received == timedelta(days=90)


async def test_case_numbers_are_unique_under_concurrent_intake(client: AsyncTestClient, registry: Tokens) -> None:
    responses = await asyncio.gather(*(submit(client, registry, report()) for _ in range(12)))
    assert [r.status_code for r in responses] == [201] * 12
    numbers = [r.json()["case_number"] for r in responses]
    assert len(set(numbers)) == 12


async def test_missing_recommended_fields_lower_completeness(client: AsyncTestClient, registry: Tokens) -> None:
    body = report(narrative=None, action_taken=None, reactions=[reaction(severity=None, code=None)])
    response = await submit(client, registry, body)
    assert response.status_code == 201
    assert response.json()["missing"] == ["reactions[0].code", "reactions[0].severity", "action_taken", "narrative"]
    assert response.json()["completeness"] == round(9 / 13, 2)


async def test_special_situation_alone_makes_a_valid_case(client: AsyncTestClient, registry: Tokens) -> None:
    response = await submit(client, registry, report(reactions=[], special_situations=["medication_error"]))
    assert response.status_code == 201, response.text
    assert response.json()["special_situations"] == ["medication_error"]
    assert response.json()["suggested_destinations"] == []
    assert response.json()["priority"] == "P5"


@pytest.mark.parametrize("situation", ["overdose", "misuse", "abuse", "dependence"])
async def test_abuse_dependence_overdose_and_misuse_are_p4_and_suggest_addictovigilance(
    client: AsyncTestClient, registry: Tokens, situation: str
) -> None:
    response = await submit(client, registry, report(reactions=[], special_situations=[situation]))
    assert response.status_code == 201, response.text
    assert response.json()["priority"] == "P4"
    assert response.json()["suggested_destinations"] == ["ceip_a"]


# --- validity: 422 with every error at once ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"patient": None}, {("patient", "missing_element")}),
        ({"patient": {"weight_kg": 60.0}}, {("patient.registry_id", "missing_element")}),
        ({"suspect_product": None}, {("suspect_product", "missing_element")}),
        ({"suspect_product": {"daily_thc_mg": 5.0}}, {("suspect_product.code", "missing_element")}),
        ({"reactions": []}, {("reactions", "missing_element")}),
        ({"reactions": None}, {("reactions", "missing_element")}),
        ({"reactions": [reaction(), {"outcome": "recovered"}]}, {("reactions[1]", "missing_element")}),
        ({"reactions": [reaction(onset_date="2099-01-01")]}, {("reactions[0].onset_date", "future_date")}),
        ({"reactions": [reaction(onset_date="2022-05-02")]}, {("reactions[0].onset_date", "onset_before_inclusion")}),
        ({"reactions": [reaction(end_date="2023-05-31")]}, {("reactions[0].end_date", "end_before_onset")}),
        ({"date_of_death": "2023-06-02"}, {("date_of_death", "death_date_without_death")}),
        ({"suspect_product": {"code": "OIL-X99"}}, {("suspect_product.code", "unknown_product")}),
        ({"reactions": [reaction(code="not_a_term")]}, {("reactions[0].code", "unknown_reaction_code")}),
        ({"reporter": {"profession": "pharmacist"}}, {("reporter.profession", "profession_mismatch")}),
    ],
)
async def test_each_validity_error_is_422_with_its_field(
    client: AsyncTestClient, registry: Tokens, changes: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    response = await submit(client, registry, report(**changes))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert codes(response) == expected


async def test_several_validity_errors_are_reported_at_once(client: AsyncTestClient, registry: Tokens) -> None:
    body = report(
        suspect_product={"code": "OIL-X99"},
        reactions=[reaction(onset_date="2099-01-01", code="nope"), {"severity": "mild"}],
        date_of_death="2023-01-01",
    )
    response = await submit(client, registry, body)
    assert response.status_code == 422
    assert codes(response) == {
        ("suspect_product.code", "unknown_product"),
        ("reactions[0].onset_date", "future_date"),
        ("reactions[0].code", "unknown_reaction_code"),
        ("reactions[1]", "missing_element"),
        ("date_of_death", "death_date_without_death"),
    }


async def test_pregnancy_of_a_male_patient_is_implausible(client: AsyncTestClient, registry: Tokens) -> None:
    body = report(patient={"registry_id": "RC-000200", "pregnant": True},
                  suspect_product={"code": "OIL-T1C20"},
                  reactions=[reaction(onset_date="2023-03-01")])  # fmt: skip
    response = await submit(client, registry, body, rpps=OTHER_PRESCRIBER)
    assert response.status_code == 422
    assert codes(response) == {("patient.pregnant", "implausible_pregnancy")}


async def test_fatal_outcome_is_never_refused_and_date_of_death_becomes_recommended(
    client: AsyncTestClient, registry: Tokens
) -> None:
    response = await submit(client, registry, report(reactions=[reaction(outcome="fatal")]))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["seriousness"]["case"] == ["death"] and body["priority"] == "P1"
    assert "date_of_death" in body["missing"]


# --- seriousness and priority -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reactions", "changes", "priority"),
    [
        ([reaction(seriousness=serious(life_threatening=True))], {}, "P1"),
        ([reaction(code="seizure", text="crise convulsive", seriousness=serious(hospitalisation=True))], {}, "P2"),
        ([reaction(seriousness=serious(hospitalisation=True))], {}, "P3"),
        ([reaction(code="seizure", text="crise convulsive")], {}, "P4"),
        ([reaction(code=None)], {}, "P4"),
        ([reaction(onset_date="2022-05-10")], {}, "P4"),
        ([reaction()], {"patient": {"registry_id": "RC-000123", "pregnant": True}}, "P4"),
        ([reaction()], {}, "P5"),
    ],
    ids=["life-threatening", "serious-unexpected", "serious-expected", "unexpected", "uncoded", "titration",
         "pregnancy", "rest"],
)  # fmt: skip
async def test_priority_levels(
    client: AsyncTestClient, registry: Tokens, reactions: list[dict[str, Any]], changes: dict[str, Any], priority: str
) -> None:
    response = await submit(client, registry, report(reactions=reactions, **changes))
    assert response.status_code == 201, response.text
    assert response.json()["priority"] == priority


async def test_serious_case_gets_the_short_deadlines(client: AsyncTestClient, registry: Tokens) -> None:
    body = (
        await submit(client, registry, report(reactions=[reaction(seriousness=serious(hospitalisation=True))]))
    ).json()
    received = datetime.fromisoformat(body["received_at"])
    assert body["serious"] is True and body["seriousness"]["case"] == ["hospitalisation"]
    assert datetime.fromisoformat(body["triage_due"]) - received == timedelta(hours=24)
    assert datetime.fromisoformat(body["forward_due"]) - received == timedelta(days=15)


async def test_important_medical_event_suggests_medically_important(client: AsyncTestClient, registry: Tokens) -> None:
    body = (await submit(client, registry, report(reactions=[reaction(code="seizure", text="crise")]))).json()
    assert body["suggested_criteria"] == ["medically_important"]
    assert body["serious"] is False  # suggested, not decided
    assert body["expected"] is False


async def test_expectedness_follows_the_product_ratio(client: AsyncTestClient, registry: Tokens) -> None:
    liver = reaction(code="hepatic_enzyme_increased", text="transaminases élevées")
    thc = (await submit(client, registry, report(reactions=[liver]))).json()
    cbd = (
        await submit(
            client,
            registry,
            report(
                patient={"registry_id": "RC-000200"},
                suspect_product={"code": "OIL-T1C20"},
                reactions=[{**liver, "onset_date": "2023-03-01"}],
            ),
            rpps=OTHER_PRESCRIBER,
        )
    ).json()
    assert thc["expected"] is False and cbd["expected"] is True


# --- consistency warnings -----------------------------------------------------------------------------------


async def test_registry_inconsistencies_are_warnings_not_errors(client: AsyncTestClient, registry: Tokens) -> None:
    body = report(suspect_product={"code": "FLOWER-T18", "daily_thc_mg": 30.0})
    response = await submit(client, registry, body)
    assert response.status_code == 201
    assert {(w["field"], w["code"]) for w in response.json()["warnings"]} == {
        ("suspect_product.code", "product_not_prescribed"),
        ("suspect_product.daily_thc_mg", "dose_differs_from_titration"),
    }


async def test_reported_dose_above_what_was_dispensed_is_flagged(client: AsyncTestClient, registry: Tokens) -> None:
    # DS-1 supplied 14 ml of 10 mg/ml over 28 days: 5 mg/day of THC.
    body = report(
        suspect_product={"code": "OIL-T10", "daily_thc_mg": 9.0}, reactions=[reaction(onset_date="2022-05-20")]
    )
    warnings = {w["code"] for w in (await submit(client, registry, body)).json()["warnings"]}
    assert "dose_above_dispensed" in warnings
    consistent = report(
        suspect_product={"code": "OIL-T10", "daily_thc_mg": 1.0}, reactions=[reaction(onset_date="2022-05-20")]
    )
    assert (await submit(client, registry, consistent)).json()["warnings"] == []


# --- personal identifiers ---------------------------------------------------------------------------------

NIR_BODY = "2700544109123"
NIR = NIR_BODY + f"{97 - int(NIR_BODY) % 97:02d}"


@pytest.mark.parametrize(
    ("changes", "field", "secret"),
    [
        ({"narrative": f"Patiente NIR {NIR}, suivie au CHU."}, "narrative", NIR),
        ({"history": "Joindre la fille au 06 12 34 56 78."}, "history", "06 12 34 56 78"),
        (
            {"reactions": [reaction(text="écrire à jeanne.dupont@example.fr")]},
            "reactions[0].text",
            "jeanne.dupont@example.fr",
        ),
        (
            {"concomitant_medicines": ["doliprane", "+33 6 12 34 56 78"]},
            "concomitant_medicines[1]",
            "+33 6 12 34 56 78",
        ),
    ],
)
async def test_personal_identifier_is_refused_and_never_stored_nor_logged(
    client: AsyncTestClient,
    registry: Tokens,
    database: Database,
    caplog: pytest.LogCaptureFixture,
    changes: dict[str, Any],
    field: str,
    secret: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await submit(client, registry, report(**changes))
    assert response.status_code == 422
    assert codes(response) == {(field, "personal_identifier")}
    assert secret not in response.text
    assert secret not in caplog.text
    async with database.read_session() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(text("*")).select_from(table))).all()
            assert secret not in repr(rows), table.name


# --- shape (400) and reach (404) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"patient": {"registry_id": "RC-000123", "weight_kg": 500}}, "patient.weight_kg", "out_of_range"),
        (
            {"suspect_product": {"code": "OIL-T10", "daily_thc_mg": 1200}},
            "suspect_product.daily_thc_mg",
            "out_of_range",
        ),
        ({"reactions": [reaction(outcome="better")]}, "reactions[0].outcome", "invalid_value"),
        ({"colour": "blue"}, "colour", "unknown_field"),
        ({"reactions": [reaction(onset_date=20230601)]}, "reactions[0].onset_date", "invalid_type"),
    ],
)
async def test_shape_errors_are_400_with_the_path(
    client: AsyncTestClient, registry: Tokens, changes: dict[str, Any], field: str, code: str
) -> None:
    response = await submit(client, registry, report(**changes))
    assert response.status_code == 400, response.text
    assert (response.json()["errors"][0]["field"], response.json()["errors"][0]["code"]) == (field, code)


async def test_another_prescribers_patient_is_404_even_with_a_malformed_body(
    client: AsyncTestClient, registry: Tokens
) -> None:
    body = report(patient={"registry_id": "RC-000200"})
    assert (await submit(client, registry, body)).status_code == 404
    body["colour"] = "blue"
    assert (await submit(client, registry, body)).status_code == 404


async def test_pharmacist_reports_on_a_patient_they_dispense_to(client: AsyncTestClient, registry: Tokens) -> None:
    body = report(reporter={"profession": "pharmacist"})
    response = await submit(client, registry, body, rpps=PHARMACIST)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("rpps", [PV_STAFF, ADMIN])
async def test_staff_and_admin_cannot_submit(client: AsyncTestClient, registry: Tokens, rpps: str) -> None:
    assert (await submit(client, registry, report(), rpps=rpps)).status_code == 403


async def test_admin_cannot_read_cases(client: AsyncTestClient, registry: Tokens) -> None:
    case_id = (await submit(client, registry, report())).json()["id"]
    assert (await client.get(f"{REPORTS}/{case_id}", headers=registry.headers(ADMIN))).status_code == 403


# --- idempotency ---------------------------------------------------------------------------------------------


async def test_idempotent_replay_returns_the_first_answer_and_one_case(
    client: AsyncTestClient, registry: Tokens
) -> None:
    first = await submit(client, registry, report(), **{"Idempotency-Key": "k-1"})
    again = await submit(client, registry, report(), **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
    listed = (await client.get(f"{REPORTS}?patient=RC-000123", headers=registry.headers(PRESCRIBER))).json()
    assert len(listed["items"]) == 1


async def test_same_key_with_another_body_is_422(client: AsyncTestClient, registry: Tokens) -> None:
    await submit(client, registry, report(), **{"Idempotency-Key": "k-2"})
    response = await submit(client, registry, report(narrative="autre"), **{"Idempotency-Key": "k-2"})
    assert response.status_code == 422
    assert codes(response) == {("Idempotency-Key", "idempotency_key_reused")}


async def test_idempotency_keys_are_scoped_to_the_user(client: AsyncTestClient, registry: Tokens) -> None:
    mine = await submit(client, registry, report(), **{"Idempotency-Key": "shared"})
    theirs = await submit(client, registry, report(reporter={"profession": "pharmacist"}), rpps=PHARMACIST,
                          **{"Idempotency-Key": "shared"})  # fmt: skip
    assert theirs.status_code == 201 and theirs.json()["id"] != mine.json()["id"]


async def test_concurrent_duplicates_with_one_key_create_one_case(client: AsyncTestClient, registry: Tokens) -> None:
    responses = await asyncio.gather(
        *(submit(client, registry, report(), **{"Idempotency-Key": "k-race"}) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1


# --- duplicates, versions, follow-ups ------------------------------------------------------------------------


async def test_close_reports_are_linked_as_possible_duplicates(client: AsyncTestClient, registry: Tokens) -> None:
    first = (await submit(client, registry, report())).json()
    second = (
        await submit(
            client,
            registry,
            report(reactions=[reaction(code=None, text="Somnolence  marquee le matin", onset_date="2023-06-03")]),
        )
    ).json()
    unrelated = (await submit(client, registry, report(reactions=[reaction(onset_date="2023-07-01")]))).json()
    assert second["possible_duplicates"] == [{"id": first["id"], "case_number": first["case_number"]}]
    assert unrelated["possible_duplicates"] == []
    detail = (await client.get(f"{REPORTS}/{first['id']}", headers=registry.headers(PRESCRIBER))).json()
    assert detail["possible_duplicates"] == [{"id": second["id"], "case_number": second["case_number"]}]


async def test_case_page_carries_the_report_versions_and_etag(client: AsyncTestClient, registry: Tokens) -> None:
    created = await submit(client, registry, report())
    response = await client.get(f"{REPORTS}/{created.json()['id']}", headers=registry.headers(PRESCRIBER))
    assert response.status_code == 200
    body = response.json()
    assert body["report"]["narrative"] == report()["narrative"]
    assert [v["version"] for v in body["versions"]] == [1]
    assert body["findings"] == []
    assert response.headers["etag"] == created.headers["etag"]


async def test_follow_up_creates_a_new_version_keeping_the_first(client: AsyncTestClient, registry: Tokens) -> None:
    created = await submit(client, registry, report())
    case_id, etag = created.json()["id"], created.headers["etag"]
    updated = copy.deepcopy(report())
    updated["reactions"][0]["seriousness"]["hospitalisation"] = True
    updated["reactions"].append(reaction(code="dizziness", text="vertiges", onset_date="2023-06-02"))
    response = await client.post(
        f"{REPORTS}/{case_id}/follow-ups", json=updated, headers={**registry.headers(PRESCRIBER), "If-Match": etag}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 2 and body["serious"] is True and body["priority"] == "P3"
    assert response.headers["etag"] != etag
    follow_up_receipt = datetime.fromisoformat(body["triage_due"]) - timedelta(hours=24)
    assert follow_up_receipt > datetime.fromisoformat(body["received_at"])  # counted from the follow-up
    headers = registry.headers(PRESCRIBER)
    versions = (await client.get(f"{REPORTS}/{case_id}/versions", headers=headers)).json()
    assert [v["version"] for v in versions["items"]] == [1, 2]
    first = (await client.get(f"{REPORTS}/{case_id}/versions/1", headers=headers)).json()
    assert len(first["report"]["reactions"]) == 1 and first["reporter"] == PRESCRIBER
    assert (await client.get(f"{REPORTS}/{case_id}/versions/3", headers=headers)).status_code == 404


async def test_follow_up_with_a_stale_etag_is_412(client: AsyncTestClient, registry: Tokens) -> None:
    case_id = (await submit(client, registry, report())).json()["id"]
    headers = {**registry.headers(PRESCRIBER), "If-Match": '"0.0"'}
    response = await client.post(f"{REPORTS}/{case_id}/follow-ups", json=report(), headers=headers)
    assert response.status_code == 412


async def test_follow_up_may_not_remove_reactions_nor_change_patient(client: AsyncTestClient, registry: Tokens) -> None:
    two = report(reactions=[reaction(), reaction(code="dizziness", text="vertiges")])
    case_id = (await submit(client, registry, two)).json()["id"]
    headers = registry.headers(PRESCRIBER)
    removed = await client.post(f"{REPORTS}/{case_id}/follow-ups", json=report(), headers=headers)
    assert removed.status_code == 422 and codes(removed) == {("reactions", "reaction_removed")}
    swapped = report(reactions=list(reversed(two["reactions"])))
    assert (await client.post(f"{REPORTS}/{case_id}/follow-ups", json=swapped, headers=headers)).status_code == 422
    moved = report(patient={"registry_id": "RC-000200"}, reactions=two["reactions"])
    response = await client.post(f"{REPORTS}/{case_id}/follow-ups", json=moved, headers=registry.headers(PV_STAFF))
    assert response.status_code == 422 and ("patient.registry_id", "patient_changed") in codes(response)


async def test_follow_up_on_a_case_outside_reach_is_404(client: AsyncTestClient, registry: Tokens) -> None:
    case_id = (await submit(client, registry, report())).json()["id"]
    response = await client.post(
        f"{REPORTS}/{case_id}/follow-ups", json=report(), headers=registry.headers(OTHER_PRESCRIBER)
    )
    assert response.status_code == 404
    assert (await client.get(f"{REPORTS}/{case_id}", headers=registry.headers(OTHER_PRESCRIBER))).status_code == 404
    assert (await client.get(f"{REPORTS}/999999", headers=registry.headers(PRESCRIBER))).status_code == 404


async def test_reporters_list_only_their_own_reports(client: AsyncTestClient, registry: Tokens) -> None:
    await submit(client, registry, report())
    await submit(client, registry, report(reporter={"profession": "pharmacist"}), rpps=PHARMACIST)
    mine = (await client.get(REPORTS, headers=registry.headers(PRESCRIBER))).json()["items"]
    everyone = (await client.get(REPORTS, headers=registry.headers(PV_STAFF))).json()["items"]
    assert len(mine) == 1 and len(everyone) == 2


async def test_reading_a_case_is_audited(client: AsyncTestClient, registry: Tokens, database: Database) -> None:
    from pv_service.storage.models import AuditEntry

    case_id = (await submit(client, registry, report())).json()["id"]
    await client.get(f"{REPORTS}/{case_id}", headers=registry.headers(PV_STAFF))
    async with database.read_session() as session:
        actions = list(
            await session.execute(select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.entity == "case"))
        )
    assert [(a, b) for a, b in actions] == [(PRESCRIBER, "case.create"), (PV_STAFF, "case.read")]


async def test_the_form_definition_is_served(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.get("/api/v1/forms/adverse-event", headers=registry.headers(PHARMACIST))
    assert response.status_code == 200
    paths = {f["path"] for s in response.json()["sections"] for f in s["fields"]}
    assert {"patient.registry_id", "suspect_product.code", "reactions[].onset_date"} <= paths


async def test_a_reaction_without_onset_is_linked_to_a_case_of_the_same_code(
    client: AsyncTestClient, registry: Tokens
) -> None:
    first = (await submit(client, registry, report())).json()
    undated = report(reactions=[reaction(onset_date=None, end_date=None)])
    second = await submit(client, registry, undated)
    assert second.status_code == 201, second.text
    assert second.json()["possible_duplicates"] == [{"id": first["id"], "case_number": first["case_number"]}]
