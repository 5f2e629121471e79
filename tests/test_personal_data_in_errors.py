"""Problem details never repeat a NIR, a phone number, an e-mail address or a token a client sent, wherever it
was sent: a free text, a field's value or name, a path, a query, a header."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import PRESCRIBER, PV_STAFF, Tokens
from litestar.testing import AsyncTestClient
from report_bodies import reaction, report

NIR = "1 70 05 44 109 123 70"
PHONE = "06 12 34 56 78"
EMAIL = "jean.dupont@example.fr"
TOKEN = "pvt_" + "Zq3" * 14
SECRETS = (NIR, PHONE, EMAIL, TOKEN, NIR.replace(" ", ""), PHONE.replace(" ", ""), "jean.dupont")

BODIES: dict[str, dict[str, Any]] = {
    "narrative": report(narrative=f"Patient {NIR}, joignable au {PHONE} ou {EMAIL}."),
    "reaction text": report(reactions=[reaction(text=f"vertiges, appeler le {PHONE}")]),
    "concomitant medicine": report(concomitant_medicines=[f"voir {EMAIL}"]),
    "enum value": report(action_taken=EMAIL),
    "date value": report(reactions=[reaction(onset_date=PHONE)]),
    "number value": report(patient={"registry_id": "RC-000123", "weight_kg": NIR}),
    "registry id": report(patient={"registry_id": EMAIL}),
    "product code": report(suspect_product={"code": PHONE, "daily_thc_mg": 5.0}),
    "unknown field name": report(**{EMAIL: "x"}),
    "unknown field value": report(telephone=PHONE),
}


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} repeated in {text[:300]!r}"


@pytest.mark.parametrize("where", BODIES)
@pytest.mark.parametrize("language", ["en", "fr"])
async def test_a_refused_report_never_repeats_an_identifier_it_held(
    client: AsyncTestClient, registry: Tokens, where: str, language: str
) -> None:
    headers = registry.headers(PRESCRIBER) | {"Accept-Language": language}
    response = await client.post("/api/v1/reports", json=BODIES[where], headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert_no_secret(response.text)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/v1/patients/{EMAIL}"),
        ("GET", f"/api/v1/reports/{PHONE.replace(' ', '')}"),
        ("GET", f"/api/v1/queue?patient={EMAIL}&reporter={NIR}&limit={PHONE}"),
        ("GET", f"/api/v1/digests/{PHONE.replace(' ', '-')}"),
        ("GET", f"/api/v1/anomalies?patient={NIR}&kind={EMAIL}"),
    ],
)
async def test_a_refused_path_or_query_never_repeats_an_identifier(
    client: AsyncTestClient, registry: Tokens, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=registry.headers(PV_STAFF))
    assert 400 <= response.status_code < 500, response.text
    assert_no_secret(response.text)


async def test_a_refused_token_or_header_is_never_repeated(client: AsyncTestClient, registry: Tokens) -> None:
    refused = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 401
    replayed = await client.post(
        "/api/v1/reports", json=report(narrative=123), headers=registry.headers(PRESCRIBER) | {"Idempotency-Key": EMAIL}
    )
    assert replayed.status_code == 400
    for response in (refused, replayed):
        assert_no_secret(response.text + " ".join(response.headers.values()))
