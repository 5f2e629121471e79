"""Problem details (SPEC §7): one body shape for every error, named errors, no integrity error passed off
as a client's conflict, and sentences instead of the framework's words, in the request's language (§15)."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import msgspec
import pytest
from litestar import Litestar, get
from litestar.params import QueryParameter
from litestar.testing import AsyncTestClient
from sqlalchemy.exc import IntegrityError

from pv_service.errors import (
    NotForwarded,
    RoleNotAllowed,
    StaleCase,
    decode_error_to_field_error,
    problem_details_plugin,
)
from pv_service.i18n import translate
from pv_service.rules.field_error import FieldError
from pv_service.rules.text import Text


@get("/stale", sync_to_thread=False)
def stale() -> None:
    raise StaleCase()


@get("/not-forwarded", sync_to_thread=False)
def not_forwarded() -> None:
    raise NotForwarded()


@get("/integrity", sync_to_thread=False)
def integrity() -> None:
    raise IntegrityError("INSERT INTO cases ...", {}, Exception("NOT NULL constraint failed: cases.priority"))


def app() -> Litestar:
    # No logging configuration of its own: the test reads the records where pytest captures them.
    return Litestar([stale, not_forwarded, integrity], plugins=[problem_details_plugin()], logging_config=None)


async def test_a_named_error_answers_its_status_as_problem_details_with_errors() -> None:
    async with AsyncTestClient(app()) as client:
        response = await client.get("/stale")
    assert response.status_code == 412
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/precondition-failed")
    assert body["errors"] == []
    assert "changed since you read it" in body["detail"]


async def test_closing_before_forwarding_is_a_conflict_coded_not_forwarded() -> None:
    async with AsyncTestClient(app()) as client:
        response = await client.get("/not-forwarded")
    assert response.status_code == 409
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("action", "not_forwarded")]


async def test_an_unexpected_integrity_error_is_a_logged_500_without_its_sql(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="pv_service"):
        async with AsyncTestClient(app()) as client:
            response = await client.get("/integrity")
    assert response.status_code == 500
    assert "INSERT" not in response.text and "NOT NULL" not in response.text
    assert any(record.levelno == logging.ERROR and record.exc_info for record in caplog.records)


# --- sentences, not the framework's words (SPEC §15) -------------------------------------------------


class Dose(msgspec.Struct, forbid_unknown_fields=True):
    daily_mg: Annotated[float, msgspec.Meta(ge=0.5, le=80)]
    route: Literal["oral", "inhaled"] = "oral"


class Prescribed(msgspec.Struct, forbid_unknown_fields=True):
    doses: list[Dose]
    days: Annotated[int, msgspec.Meta(ge=1)] = 28


def decode_error(raw: bytes) -> FieldError:
    try:
        msgspec.json.decode(raw, type=Prescribed)
    except msgspec.DecodeError as exc:
        return decode_error_to_field_error(str(exc), Prescribed)
    raise AssertionError("decoded")


@pytest.mark.parametrize(
    ("raw", "field", "code", "english"),
    [
        (
            b'{"doses": [{"daily_mg": 0.1}]}',
            "doses[0].daily_mg",
            "out_of_range",
            "Must be a number between 0.5 and 80.",
        ),
        (b'{"doses": [{"daily_mg": 90}]}', "doses[0].daily_mg", "out_of_range", "Must be a number between 0.5 and 80."),
        (b'{"doses": [], "days": 0}', "days", "out_of_range", "Must be at least 1."),
        (b'{"doses": [{"daily_mg": "1"}]}', "doses[0].daily_mg", "invalid_type", "Must be a number."),
        (
            b'{"doses": [{"daily_mg": 1, "route": "iv"}]}',
            "doses[0].route",
            "invalid_value",
            "Must be one of: inhaled, oral.",
        ),
        (
            b'{"doses": [{"daily_mg": 1, "route": 3}]}',
            "doses[0].route",
            "invalid_type",
            "Must be one of: inhaled, oral.",
        ),
        (
            b'{"doses": [{"daily_mg": 1, "dose": 3}]}',
            "doses[0].dose",
            "unknown_field",
            "The field 'doses[0].dose' is not accepted here.",
        ),
        (b'{"days": 3}', "doses", "missing_element", "The field 'doses' is required."),
        (b'{"doses": {}}', "doses", "invalid_type", "Must be a list."),
        (b"[]", "", "invalid_type", "Must be a JSON object."),
        (b'{"doses": [', "", "invalid_type", "The content is not valid JSON."),
    ],
)
def test_a_decode_error_becomes_a_sentence_with_the_bounds_and_values_of_its_type(
    raw: bytes, field: str, code: str, english: str
) -> None:
    error = decode_error(raw)
    assert (error.field, error.code, translate(error.message, "en")) == (field, code, english)


def test_an_error_on_the_whole_document_is_reported_on_its_root() -> None:
    error = decode_error_to_field_error("Invalid UTF-8 encoded string", Prescribed, root="body")
    assert (error.field, error.code) == ("body", "invalid_value")
    assert translate(error.message, "fr") == "Le contenu n'est pas un texte UTF-8 valide."


def test_decimals_are_written_as_the_language_writes_them() -> None:
    error = decode_error(b'{"doses": [{"daily_mg": 0.1}]}')
    assert translate(error.message, "fr") == "Doit être un nombre compris entre 0,5 et 80."
    assert translate(Text("Reported {reported} mg/day; the latest titration step records {recorded} mg/day.",
                       {"reported": 11.200000000000001, "recorded": 2.0}), "en") == (
        "Reported 11.2 mg/day; the latest titration step records 2 mg/day."
    )  # fmt: skip


@get("/formats", sync_to_thread=False)
def formats(output: Annotated[Literal["json", "csv"] | None, QueryParameter(name="format")] = None) -> str:
    return output or "json"


@get("/forbidden", sync_to_thread=False)
def forbidden() -> None:
    raise RoleNotAllowed("pharmacist")


def sentence_app() -> Litestar:
    return Litestar([stale, formats, forbidden], plugins=[problem_details_plugin()], logging_config=None)


async def test_a_query_parameter_is_reported_under_the_name_it_has_in_the_url() -> None:
    async with AsyncTestClient(sentence_app()) as client:
        response = await client.get("/formats?format=pdf")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "format", "code": "invalid_value", "message": "Must be one of: csv, json."}
    ]


async def test_a_problem_is_written_in_the_language_the_request_prefers() -> None:
    async with AsyncTestClient(sentence_app()) as client:
        french = await client.get("/stale", headers={"Accept-Language": "fr-CA, en;q=0.5"})
        english = await client.get("/stale")
    assert french.headers["content-language"] == "fr"
    assert english.headers["content-language"] == "en"
    assert french.json()["detail"] == "Le cas a été modifié depuis votre lecture ; relisez-le."
    assert french.json()["title"] == "La ressource a changé"
    assert english.json()["title"] == "The resource has changed"
    assert french.json()["type"] == english.json()["type"]


async def test_a_role_refused_is_said_in_the_request_language_with_the_role_named() -> None:
    async with AsyncTestClient(sentence_app()) as client:
        response = await client.get("/forbidden", headers={"Accept-Language": "fr"})
    assert response.status_code == 403
    assert response.json()["detail"] == "Le rôle « pharmacist » n'a pas accès à cette adresse de l'API."
