"""SPEC §2 and §14: the registry API, its reach rule and every seed rule, accepted and refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import (
    ADMIN,
    CITY_DOCTOR,
    OTHER_PHARMACIST,
    OTHER_PRESCRIBER,
    PHARMACIST,
    PRESCRIBER,
    PV_STAFF,
    Tokens,
    ndjson,
    registry_lines,
)
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from pv_service.storage.database import Database
from pv_service.storage.models import Prescription, User

RX = "/api/v1/patients/RC-000123/prescriptions"
STEPS = "/api/v1/patients/RC-000123/titration-steps"
CONSULTATIONS = "/api/v1/patients/RC-000123/consultations"
WITHDRAWAL = "/api/v1/patients/RC-000123/withdrawal"
DISPENSATIONS = "/api/v1/dispensations"


def prescription(**changes: Any) -> dict[str, Any]:
    return {
        "id": "RX-NEW",
        "product": "OIL-T10",
        "daily_thc_mg": 5.0,
        "daily_cbd_mg": 0.25,
        "start_date": "2022-06-01",
        "days": 28,
        **changes,
    }


def dispensation(**changes: Any) -> dict[str, Any]:
    return {
        "id": "DS-NEW",
        "prescription_id": "RX-1",
        "date": "2022-05-10",
        "quantity": 5.0,
        "days_supply": 7,
        **changes,
    }


def codes(response: Any) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in response.json()["errors"]]


# --- reach ------------------------------------------------------------------------------------------


async def test_prescriber_lists_only_their_patients(client: AsyncTestClient, registry: Tokens) -> None:
    mine = (await client.get("/api/v1/patients", headers=registry.headers(PRESCRIBER))).json()
    theirs = (await client.get("/api/v1/patients", headers=registry.headers(OTHER_PRESCRIBER))).json()
    assert [p["registry_id"] for p in mine["items"]] == ["RC-000123"]
    assert [p["registry_id"] for p in theirs["items"]] == ["RC-000200"]
    assert mine["next_cursor"] is None


async def test_city_doctor_reaches_the_patient_who_named_them(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.get("/api/v1/patients/RC-000123", headers=registry.headers(CITY_DOCTOR))
    assert response.status_code == 200


@pytest.mark.parametrize("rpps", [PRESCRIBER, PHARMACIST, CITY_DOCTOR])
async def test_patient_outside_reach_is_404_like_an_unknown_one(
    client: AsyncTestClient, registry: Tokens, rpps: str
) -> None:
    outside = await client.get("/api/v1/patients/RC-000200", headers=registry.headers(rpps))
    unknown = await client.get("/api/v1/patients/RC-999999", headers=registry.headers(rpps))
    assert outside.status_code == unknown.status_code == 404
    assert outside.json()["detail"] == unknown.json()["detail"]


async def test_prescriber_cannot_write_for_another_prescribers_patient(
    client: AsyncTestClient, registry: Tokens
) -> None:
    response = await client.post(
        "/api/v1/patients/RC-000200/titration-steps",
        json={"date": "2023-02-05", "daily_thc_mg": 1.0, "daily_cbd_mg": 20.0},
        headers=registry.headers(PRESCRIBER),
    )
    assert response.status_code == 404


async def test_pv_staff_and_admin_read_the_whole_mirror(client: AsyncTestClient, registry: Tokens) -> None:
    for rpps in (PV_STAFF, ADMIN):
        items = (await client.get("/api/v1/patients", headers=registry.headers(rpps))).json()["items"]
        assert {p["registry_id"] for p in items} == {"RC-000123", "RC-000200"}


async def test_dispensing_brings_the_patient_within_the_pharmacists_reach(
    client: AsyncTestClient, registry: Tokens
) -> None:
    headers = registry.headers(OTHER_PHARMACIST)
    assert (await client.get("/api/v1/patients/RC-000123", headers=headers)).status_code == 404
    response = await client.post(DISPENSATIONS, json=dispensation(), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["pharmacist"] == OTHER_PHARMACIST
    assert (await client.get("/api/v1/patients/RC-000123", headers=headers)).status_code == 200


async def test_patient_detail_carries_the_registry_history(client: AsyncTestClient, registry: Tokens) -> None:
    body = (await client.get("/api/v1/patients/RC-000123", headers=registry.headers(PRESCRIBER))).json()
    assert body["status"] == "active" and body["withdrawal"] is None
    assert [p["id"] for p in body["prescriptions"]] == ["RX-1"]
    assert body["prescriptions"][0]["secure"] is True
    assert [d["id"] for d in body["dispensations"]] == ["DS-1"]
    assert body["titration_steps"][0]["daily_thc_mg"] == 1.0
    assert body["consultations"][0] == {"registry_id": "RC-000123", "date": "2022-06-02", "kind": "complex", "month": 1}
    assert body["reference_structure"] == "CHU de Nantes"


async def test_patient_list_pages_with_a_cursor(client: AsyncTestClient, registry: Tokens) -> None:
    headers = registry.headers(PV_STAFF)
    first = (await client.get("/api/v1/patients?limit=1", headers=headers)).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = (await client.get(f"/api/v1/patients?limit=1&cursor={first['next_cursor']}", headers=headers)).json()
    assert [p["registry_id"] for p in first["items"] + second["items"]] == ["RC-000123", "RC-000200"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=abc", "cursor=not-a-cursor"])
async def test_bad_paging_parameters_are_400(client: AsyncTestClient, registry: Tokens, query: str) -> None:
    response = await client.get(f"/api/v1/patients?{query}", headers=registry.headers(PV_STAFF))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] in {"limit", "cursor"}


# --- prescriptions ------------------------------------------------------------------------------------


async def test_secure_prescription_of_28_days_is_accepted_and_marked_secure(
    client: AsyncTestClient, registry: Tokens
) -> None:
    response = await client.post(RX, json=prescription(), headers=registry.headers(PRESCRIBER))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["secure"] is True and body["prescriber"] == PRESCRIBER and body["registry_id"] == "RC-000123"


async def test_secure_prescription_over_28_days_is_refused(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post(RX, json=prescription(days=29), headers=registry.headers(PRESCRIBER))
    assert response.status_code == 422
    assert codes(response) == [("days", "duration_exceeds_28_days")]


async def test_simple_prescription_may_exceed_28_days(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post(
        RX, json=prescription(product="OIL-T1C20", days=84), headers=registry.headers(PRESCRIBER)
    )
    assert response.status_code == 201, response.text
    assert response.json()["secure"] is False


@pytest.mark.parametrize(("product", "declared"), [("OIL-T10", False), ("OIL-C50", True)])
async def test_prescription_contradicting_the_derived_secure_flag_is_refused(
    client: AsyncTestClient, registry: Tokens, product: str, declared: bool
) -> None:
    response = await client.post(
        RX, json=prescription(product=product, secure=declared), headers=registry.headers(PRESCRIBER)
    )
    assert response.status_code == 422
    assert ("secure", "secure_mismatch") in codes(response)


async def test_unknown_product_is_refused(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post(RX, json=prescription(product="OIL-X99"), headers=registry.headers(PRESCRIBER))
    assert response.status_code == 422
    assert codes(response) == [("product", "unknown_product")]


async def test_several_broken_rules_are_reported_at_once(
    client: AsyncTestClient,
    registry: Tokens,
    settings_with,
) -> None:
    await client.post(
        WITHDRAWAL, json={"date": "2022-06-01", "reason": "adverse_effects"}, headers=registry.headers(PRESCRIBER)
    )
    response = await client.post(
        RX, json=prescription(days=40, secure=False, start_date="2022-07-01"), headers=registry.headers(PRESCRIBER)
    )
    assert response.status_code == 422
    assert set(codes(response)) == {
        ("secure", "secure_mismatch"),
        ("days", "duration_exceeds_28_days"),
        ("start_date", "patient_withdrawn"),
    }


async def test_replaying_the_same_prescription_answers_200_without_duplicate(
    client: AsyncTestClient, registry: Tokens
) -> None:
    headers = registry.headers(PRESCRIBER)
    assert (await client.post(RX, json=prescription(), headers=headers)).status_code == 201
    replay = await client.post(RX, json=prescription(), headers=headers)
    assert replay.status_code == 200
    detail = (await client.get("/api/v1/patients/RC-000123", headers=headers)).json()
    assert [p["id"] for p in detail["prescriptions"]].count("RX-NEW") == 1


async def test_same_prescription_id_with_other_content_is_409(client: AsyncTestClient, registry: Tokens) -> None:
    headers = registry.headers(PRESCRIBER)
    assert (await client.post(RX, json=prescription(), headers=headers)).status_code == 201
    response = await client.post(RX, json=prescription(days=14), headers=headers)
    assert response.status_code == 409
    assert ("days", "invalid_value") in codes(response)


async def test_prescription_without_id_gets_one(client: AsyncTestClient, registry: Tokens) -> None:
    body = prescription()
    del body["id"]
    response = await client.post(RX, json=body, headers=registry.headers(PRESCRIBER))
    assert response.status_code == 201
    assert response.json()["id"].startswith("RX-")


async def test_prescriptions_after_the_experimentation_end_are_refused(
    client: AsyncTestClient, registry: Tokens, settings_with
) -> None:
    from datetime import date

    from pv_service.app import create_app

    ended = settings_with(experimentation_end=date(2022, 5, 31))
    async with AsyncTestClient(app=create_app(ended)) as ended_client:
        refused = await ended_client.post(RX, json=prescription(), headers=registry.headers(PRESCRIBER))
        accepted = await ended_client.post(
            RX, json=prescription(id="RX-EARLY", start_date="2022-05-31"), headers=registry.headers(PRESCRIBER)
        )
    assert refused.status_code == 422 and codes(refused) == [("start_date", "experimentation_ended")]
    assert accepted.status_code == 201


# --- dispensations ------------------------------------------------------------------------------------


async def test_dispensation_inside_its_prescription_is_accepted(client: AsyncTestClient, registry: Tokens) -> None:
    # RX-1 covers 2022-05-03 … 2022-05-30 inclusive; this supply ends on the last day.
    response = await client.post(
        DISPENSATIONS, json=dispensation(date="2022-05-24", days_supply=7), headers=registry.headers(PHARMACIST)
    )
    assert response.status_code == 201, response.text
    assert response.json()["registry_id"] == "RC-000123"


async def test_dispensation_dated_after_its_prescription_is_refused(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post(
        DISPENSATIONS, json=dispensation(date="2022-05-31", days_supply=7), headers=registry.headers(PHARMACIST)
    )
    assert response.status_code == 422
    assert codes(response) == [("days_supply", "dispensation_outside_prescription")]


async def test_a_supply_running_past_its_prescription_is_kept_for_the_cross_check(
    client: AsyncTestClient, registry: Tokens
) -> None:
    """What the pharmacy supplied is mirrored as it happened; the dose cross-check flags it (SPEC §15)."""
    response = await client.post(
        DISPENSATIONS, json=dispensation(date="2022-05-25", days_supply=7), headers=registry.headers(PHARMACIST)
    )
    assert response.status_code == 201, response.text


async def test_dispensation_before_its_prescription_is_refused(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post(
        DISPENSATIONS, json=dispensation(date="2022-05-02"), headers=registry.headers(PHARMACIST)
    )
    assert response.status_code == 422
    # The prescription starts on the day of the inclusion: the day before breaks both rules.
    assert codes(response) == [("date", "before_inclusion"), ("days_supply", "dispensation_outside_prescription")]


async def test_dispensation_of_an_unknown_prescription_is_refused(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post(
        DISPENSATIONS, json=dispensation(prescription_id="RX-404"), headers=registry.headers(PHARMACIST)
    )
    assert response.status_code == 422
    assert codes(response) == [("prescription_id", "unknown_reference")]


# --- withdrawal and weaning ---------------------------------------------------------------------------


async def withdraw(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post(
        WITHDRAWAL, json={"date": "2022-06-10", "reason": "insufficient_efficacy"}, headers=registry.headers(PRESCRIBER)
    )
    assert response.status_code == 201, response.text


async def test_withdrawal_is_recorded_and_shown(client: AsyncTestClient, registry: Tokens) -> None:
    await withdraw(client, registry)
    body = (await client.get("/api/v1/patients/RC-000123", headers=registry.headers(PRESCRIBER))).json()
    assert body["status"] == "withdrawn"
    assert body["withdrawal"] == {"registry_id": "RC-000123", "date": "2022-06-10", "reason": "insufficient_efficacy"}


async def test_withdrawal_replayed_is_200_and_changed_is_409(client: AsyncTestClient, registry: Tokens) -> None:
    await withdraw(client, registry)
    headers = registry.headers(PRESCRIBER)
    same = await client.post(
        WITHDRAWAL, json={"date": "2022-06-10", "reason": "insufficient_efficacy"}, headers=headers
    )
    other = await client.post(
        WITHDRAWAL, json={"date": "2022-06-11", "reason": "insufficient_efficacy"}, headers=headers
    )
    assert same.status_code == 200
    assert other.status_code == 409


async def test_withdrawal_before_inclusion_is_refused(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post(
        WITHDRAWAL, json={"date": "2022-05-01", "reason": "x"}, headers=registry.headers(PRESCRIBER)
    )
    assert response.status_code == 422
    assert codes(response) == [("date", "before_inclusion")]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (WITHDRAWAL, {"date": "2099-01-10", "reason": "x"}),
        (STEPS, {"date": "2099-01-10", "daily_thc_mg": 1.0, "daily_cbd_mg": 0.05}),
        (CONSULTATIONS, {"date": "2099-01-10", "kind": "simple"}),
    ],
)
async def test_a_record_dated_in_the_future_is_refused_and_writes_nothing(
    client: AsyncTestClient, registry: Tokens, path: str, body: dict[str, object]
) -> None:
    response = await client.post(path, json=body, headers=registry.headers(PRESCRIBER))
    assert response.status_code == 422, response.text
    assert codes(response) == [("date", "future_date")]
    patient = await client.get("/api/v1/patients/RC-000123", headers=registry.headers(PRESCRIBER))
    assert patient.json()["status"] == "active"


async def test_a_titration_step_before_the_inclusion_is_refused(client: AsyncTestClient, registry: Tokens) -> None:
    body = {"date": "2001-01-01", "daily_thc_mg": 1.0, "daily_cbd_mg": 0.05}
    response = await client.post(STEPS, json=body, headers=registry.headers(PRESCRIBER))
    assert response.status_code == 422, response.text
    assert codes(response) == [("date", "before_inclusion")]


async def test_after_withdrawal_a_non_weaning_prescription_is_refused(
    client: AsyncTestClient, registry: Tokens
) -> None:
    await withdraw(client, registry)
    response = await client.post(RX, json=prescription(start_date="2022-06-10"), headers=registry.headers(PRESCRIBER))
    assert response.status_code == 422
    assert codes(response) == [("start_date", "patient_withdrawn")]


async def test_after_withdrawal_a_weaning_prescription_is_accepted(client: AsyncTestClient, registry: Tokens) -> None:
    await withdraw(client, registry)
    response = await client.post(
        RX,
        json=prescription(start_date="2022-06-12", weaning=True, daily_thc_mg=2.5),
        headers=registry.headers(PRESCRIBER),
    )
    assert response.status_code == 201, response.text
    assert response.json()["weaning"] is True


async def test_after_withdrawal_only_weaning_dispensations(client: AsyncTestClient, registry: Tokens) -> None:
    await withdraw(client, registry)
    headers = registry.headers(PRESCRIBER)
    await client.post(RX, json=prescription(id="RX-WEAN", start_date="2022-06-12", weaning=True), headers=headers)
    refused = await client.post(
        DISPENSATIONS,
        json=dispensation(prescription_id="RX-WEAN", date="2022-06-12"),
        headers=registry.headers(PHARMACIST),
    )
    accepted = await client.post(
        DISPENSATIONS,
        json=dispensation(prescription_id="RX-WEAN", date="2022-06-12", weaning=True),
        headers=registry.headers(PHARMACIST),
    )
    assert refused.status_code == 422 and codes(refused) == [("date", "patient_withdrawn")]
    assert accepted.status_code == 201, accepted.text


async def test_dispensation_dated_before_the_withdrawal_is_still_accepted(
    client: AsyncTestClient, registry: Tokens
) -> None:
    await withdraw(client, registry)
    response = await client.post(
        DISPENSATIONS, json=dispensation(date="2022-05-20"), headers=registry.headers(PHARMACIST)
    )
    assert response.status_code == 201


async def test_after_withdrawal_titration_may_only_go_down(client: AsyncTestClient, registry: Tokens) -> None:
    headers = registry.headers(PRESCRIBER)
    assert (
        await client.post(
            STEPS, json={"date": "2022-05-20", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.25}, headers=headers
        )
    ).status_code == 201
    await withdraw(client, registry)
    higher = await client.post(
        STEPS, json={"date": "2022-06-12", "daily_thc_mg": 6.0, "daily_cbd_mg": 0.25}, headers=headers
    )
    same = await client.post(
        STEPS, json={"date": "2022-06-12", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.25}, headers=headers
    )
    lower = await client.post(
        STEPS, json={"date": "2022-06-12", "daily_thc_mg": 2.5, "daily_cbd_mg": 0.1}, headers=headers
    )
    lower_again = await client.post(
        STEPS, json={"date": "2022-06-20", "daily_thc_mg": 1.0, "daily_cbd_mg": 0.05}, headers=headers
    )
    assert higher.status_code == 422 and codes(higher) == [("daily_thc_mg", "patient_withdrawn")]
    assert same.status_code == 422
    assert lower.status_code == 201 and lower_again.status_code == 201


async def test_after_withdrawal_consultations_are_refused(client: AsyncTestClient, registry: Tokens) -> None:
    await withdraw(client, registry)
    response = await client.post(
        CONSULTATIONS, json={"date": "2022-07-01", "kind": "simple"}, headers=registry.headers(PRESCRIBER)
    )
    assert response.status_code == 422
    assert codes(response) == [("date", "patient_withdrawn")]


# --- titration steps and consultations -------------------------------------------------------------


async def test_titration_step_is_recorded_and_replay_is_200(client: AsyncTestClient, registry: Tokens) -> None:
    headers = registry.headers(PRESCRIBER)
    body = {"date": "2022-05-06", "daily_thc_mg": 2.0, "daily_cbd_mg": 0.1}
    first = await client.post(STEPS, json=body, headers=headers)
    again = await client.post(STEPS, json=body, headers=headers)
    changed = await client.post(STEPS, json={**body, "daily_thc_mg": 3.0}, headers=headers)
    assert (first.status_code, again.status_code, changed.status_code) == (201, 200, 409)
    assert first.json() == {"registry_id": "RC-000123", **body}


async def test_complex_consultation_carries_its_month(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post(
        CONSULTATIONS, json={"date": "2022-08-03", "kind": "complex", "month": 3}, headers=registry.headers(PRESCRIBER)
    )
    assert response.status_code == 201
    assert response.json()["month"] == 3


async def test_consultation_month_outside_the_schedule_is_400(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post(
        CONSULTATIONS, json={"date": "2022-08-03", "kind": "complex", "month": 2}, headers=registry.headers(PRESCRIBER)
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "month"


# --- concurrency ----------------------------------------------------------------------------------


async def test_the_same_new_prescription_sent_twice_at_once_is_stored_once_without_a_500(
    client: AsyncTestClient, registry: Tokens, database: Database
) -> None:
    headers = registry.headers(PRESCRIBER)
    first, second = await asyncio.gather(*(client.post(RX, json=prescription(), headers=headers) for _ in range(2)))
    # One writer stores it; the other replays it (200) or, racing on the key, is told to retry (409).
    assert sorted((first.status_code, second.status_code)) in ([200, 201], [201, 409]), (first.text, second.text)
    async with database.read_session() as session:
        assert await session.scalar(select(func.count()).where(Prescription.id == "RX-NEW")) == 1


# --- shape errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({**prescription(), "colour": "blue"}, "colour", "unknown_field"),
        (prescription(daily_thc_mg="five"), "daily_thc_mg", "invalid_type"),
        (prescription(daily_thc_mg=1001), "daily_thc_mg", "out_of_range"),
        (prescription(start_date="2022-13-01"), "start_date", "invalid_value"),
        ({k: v for k, v in prescription().items() if k != "product"}, "product", "missing_element"),
    ],
)
async def test_malformed_bodies_are_400_with_the_field_path(
    client: AsyncTestClient, registry: Tokens, body: dict[str, Any], field: str, code: str
) -> None:
    response = await client.post(RX, json=body, headers=registry.headers(PRESCRIBER))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (response.json()["errors"][0]["field"], response.json()["errors"][0]["code"]) == (field, code)


async def test_invalid_json_is_400_not_500(client: AsyncTestClient, registry: Tokens) -> None:
    response = await client.post(
        RX, content=b"{not json", headers={**registry.headers(PRESCRIBER), "Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_body_over_the_limit_is_413(client: AsyncTestClient, registry: Tokens) -> None:
    big = prescription(id="RX-" + "1" * 10)
    payload = b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = await client.post(
        RX, content=payload, headers={**registry.headers(PRESCRIBER), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert big  # the ordinary body stays well under the limit


async def test_reference_documents_are_served(client: AsyncTestClient, registry: Tokens) -> None:
    headers = registry.headers(PHARMACIST)
    products = (await client.get("/api/v1/reference/products", headers=headers)).json()
    assert {p["code"] for p in products["products"]} >= {"OIL-T10", "FLOWER-T18"}
    protocol = (await client.get("/api/v1/reference/titration-protocol", headers=headers)).json()
    assert protocol["titration_days"] == 28
    for name in ("indications", "reactions"):
        assert (await client.get(f"/api/v1/reference/{name}", headers=headers)).status_code == 200
    assert (await client.get("/api/v1/reference/nothing", headers=headers)).status_code == 404


async def test_an_imported_name_holding_a_nul_character_is_stored_with_a_replacement_character(
    client: AsyncTestClient, registry: Tokens, database: Database
) -> None:
    lines = registry_lines()
    lines[0] |= {"name": "Dr\x00 A. Martin", "structure": "CHU\x00 de Nantes"}
    headers = registry.headers(ADMIN) | {"Content-Type": "application/x-ndjson"}
    response = await client.post("/api/v1/registry/imports", content=ndjson(lines), headers=headers)
    assert response.status_code == 200, response.text
    async with database.read_session() as session:
        stored = (await session.execute(select(User.name, User.structure).where(User.rpps == lines[0]["rpps"]))).one()
    assert tuple(stored) == ("Dr\ufffd A. Martin", "CHU\ufffd de Nantes")
