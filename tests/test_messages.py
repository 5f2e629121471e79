"""Messages are sentences a prescriber reads (SPEC §15), in French when the request asks for it, English
otherwise; ``field`` and ``code`` never change with the language. And every sentence of the code has its
French translation, with the same ``{names}``."""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from conftest import PRESCRIBER, PV_STAFF, Tokens
from litestar.testing import AsyncTestClient
from report_bodies import report

import pv_service

PACKAGE = Path(pv_service.__file__).parent
FRENCH_CATALOGS = sorted((PACKAGE / "locale" / "fr" / "LC_MESSAGES").glob("*.po"))
JSON = {"Content-Type": "application/json"}
RX = "/api/v1/patients/RC-000123/prescriptions"
# What a framework's message looks like: msgspec's backticks and "Expected", Litestar's ParamType and
# "Validation failed", a Python or JSON type name quoted.
FRAMEWORK_WORDS = re.compile(
    r"`|ParamType|Expected |Validation failed|[`'\"](?:int|float|str|dict|list|bool|array|object)[`'\"]"
)


def _report(**patient: Any) -> dict[str, Any]:
    body = report()
    body["patient"] = {**body["patient"], **patient}
    return body


def _prescription(**changes: Any) -> dict[str, Any]:
    """A prescription of RC-000123 that breaks no rule, but for ``changes``."""
    written = {"id": "RX-NEW", "product": "OIL-T10", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.25, "days": 28}
    return {**written, "start_date": "2022-06-01", **changes}


# (name, who asks, method, path, request arguments, status, [(field, code)], the French message of the first error)
REQUESTS: list[tuple[str, str, str, str, dict[str, Any], int, list[tuple[str, str]], str | None]] = [
    (
        "weight below its bound",
        PRESCRIBER,
        "POST",
        "/api/v1/reports",
        {"json": _report(weight_kg=0.1)},
        400,
        [("patient.weight_kg", "out_of_range")],
        "Doit être un nombre compris entre 0,3 et 400 kg.",
    ),
    (
        "weight above its bound",
        PRESCRIBER,
        "POST",
        "/api/v1/reports",
        {"json": _report(weight_kg=900)},
        400,
        [("patient.weight_kg", "out_of_range")],
        "Doit être un nombre compris entre 0,3 et 400 kg.",
    ),
    (
        "weight as text",
        PRESCRIBER,
        "POST",
        "/api/v1/reports",
        {"json": _report(weight_kg="heavy")},
        400,
        [("patient.weight_kg", "invalid_type")],
        "Doit être un nombre.",
    ),
    (
        "unknown field",
        PRESCRIBER,
        "POST",
        "/api/v1/reports",
        {"json": _report(colour="blue")},
        400,
        [("patient.colour", "unknown_field")],
        "Le champ « patient.colour » n'est pas accepté ici.",
    ),
    (
        "value outside a closed set",
        PRESCRIBER,
        "POST",
        "/api/v1/reports",
        {"json": {**report(), "action_taken": "stopped"}},
        400,
        [("action_taken", "invalid_value")],
        None,
    ),
    (
        "narrative too long",
        PRESCRIBER,
        "POST",
        "/api/v1/reports",
        {"json": {**report(), "narrative": "x" * 20_001}},
        400,
        [("narrative", "too_long")],
        "Ne doit pas dépasser 20000 caractères.",
    ),
    (
        "invalid UTF-8",
        PRESCRIBER,
        "POST",
        "/api/v1/reports",
        {"content": b'{"narrative": "\xff\xfe"}', "headers": JSON},
        400,
        [("body", "invalid_value")],
        "Le contenu n'est pas un texte UTF-8 valide.",
    ),
    (
        "body not an object",
        PRESCRIBER,
        "POST",
        "/api/v1/reports",
        {"content": b"[1, 2]", "headers": JSON},
        400,
        [("body", "invalid_type")],
        "Doit être un objet JSON.",
    ),
    (
        "report missing its elements",
        PRESCRIBER,
        "POST",
        "/api/v1/reports",
        {"json": {}},
        422,
        [("patient", "missing_element"), ("suspect_product", "missing_element"), ("reactions", "missing_element")],
        "Un cas valide nécessite un patient identifiable.",
    ),
    (
        "registry rule broken",
        PRESCRIBER,
        "POST",
        RX,
        {"json": _prescription(days=90, secure=False)},
        422,
        [("secure", "secure_mismatch"), ("days", "duration_exceeds_28_days")],
        "Ce produit (1,1 % de THC) se prescrit sur ordonnance sécurisée.",
    ),
    (
        "registry dose below zero",
        PRESCRIBER,
        "POST",
        RX,
        {"json": _prescription(daily_thc_mg=-5)},
        400,
        [("daily_thc_mg", "out_of_range")],
        "Doit être un nombre compris entre 0 et 1000.",
    ),
    (
        "limit out of its bounds",
        PRESCRIBER,
        "GET",
        "/api/v1/reports?limit=0",
        {},
        400,
        [("limit", "invalid_value")],
        "Doit être un nombre entier compris entre 1 et 500.",
    ),
    (
        "limit not a number",
        PRESCRIBER,
        "GET",
        "/api/v1/reports?limit=ten",
        {},
        400,
        [("limit", "invalid_value")],
        "Doit être un nombre entier.",
    ),
    (
        "format outside its values",
        PV_STAFF,
        "GET",
        "/api/v1/digests/2025-W14?format=pdf",
        {},
        400,
        [("format", "invalid_value")],
        "Doit être l'une des valeurs suivantes : csv, html, json.",
    ),
    (
        "state outside its values",
        PV_STAFF,
        "GET",
        "/api/v1/queue?state=lost",
        {},
        400,
        [("state", "invalid_value")],
        None,
    ),
    (
        "date not a date",
        PV_STAFF,
        "GET",
        "/api/v1/anomalies?since=yesterday",
        {},
        400,
        [("since", "invalid_value")],
        "Doit être une date au format AAAA-MM-JJ.",
    ),
    ("unknown case", PRESCRIBER, "GET", "/api/v1/reports/99999", {}, 404, [], None),
    ("unknown address", PRESCRIBER, "GET", "/api/v1/nothing-here", {}, 404, [], None),
]


async def _ask(
    client: AsyncTestClient, registry: Tokens, case: tuple[Any, ...], language: str | None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    _, rpps, method, path, arguments, *_ = case
    headers = {**registry.headers(rpps), **arguments.get("headers", {})}
    if language is not None:
        headers["Accept-Language"] = language
    response = await client.request(method, path, **{**arguments, "headers": headers})
    return response.status_code, response.json(), dict(response.headers)


def _sentences(body: dict[str, Any]) -> list[str]:
    return [body["title"], body["detail"], *(e["message"] for e in body["errors"])]


def _fields_and_codes(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in body["errors"]]


@pytest.mark.parametrize("case", REQUESTS, ids=[case[0] for case in REQUESTS])
@pytest.mark.parametrize("language", ["en", "fr"])
async def test_no_message_speaks_framework(
    client: AsyncTestClient, registry: Tokens, case: tuple[Any, ...], language: str
) -> None:
    status, body, _ = await _ask(client, registry, case, language)
    assert status == case[5], body
    for sentence in _sentences(body):
        assert sentence.strip(), body
        assert not FRAMEWORK_WORDS.search(sentence), sentence


@pytest.mark.parametrize("case", REQUESTS, ids=[case[0] for case in REQUESTS])
async def test_a_french_request_gets_the_french_sentence_with_the_same_field_and_code(
    client: AsyncTestClient, registry: Tokens, case: tuple[Any, ...]
) -> None:
    english_status, english, _ = await _ask(client, registry, case, "en")
    status, french, headers = await _ask(client, registry, case, "fr-FR,fr;q=0.9,en;q=0.5")
    assert status == english_status == case[5]
    assert _fields_and_codes(french) == _fields_and_codes(english) == case[6]
    assert french["type"] == english["type"]
    assert french["detail"] != english["detail"]
    assert french["title"] != english["title"]
    if case[7] is not None:
        assert french["errors"][0]["message"] == case[7]
    if status == 400:
        # A shape error's detail is its (first) error's sentence.
        assert french["detail"] == french["errors"][0]["message"]
    assert headers["content-language"] == "fr"


@pytest.mark.parametrize("case", REQUESTS, ids=[case[0] for case in REQUESTS])
async def test_an_english_or_a_missing_or_an_unknown_language_gets_english(
    client: AsyncTestClient, registry: Tokens, case: tuple[Any, ...]
) -> None:
    answers = [await _ask(client, registry, case, language) for language in (None, "en-GB", "de, es;q=0.8")]
    bodies = [body for _, body, _ in answers]
    assert bodies[0] == bodies[1] == bodies[2]
    assert all(headers["content-language"] == "en" for _, _, headers in answers)
    assert _fields_and_codes(bodies[0]) == case[6]


async def test_the_weight_out_of_range_is_said_with_its_bounds_and_unit(
    client: AsyncTestClient, registry: Tokens
) -> None:
    response = await client.post("/api/v1/reports", json=_report(weight_kg=0.1), headers=registry.headers(PRESCRIBER))
    assert response.json()["errors"] == [
        {"field": "patient.weight_kg", "code": "out_of_range", "message": "Must be a number between 0.3 and 400 kg."}
    ]


async def test_french_is_chosen_by_weight_not_by_order(client: AsyncTestClient, registry: Tokens) -> None:
    headers = {**registry.headers(PRESCRIBER), "Accept-Language": "en;q=0.4, fr;q=0.8"}
    response = await client.get("/api/v1/reports/99999", headers=headers)
    assert response.headers["content-language"] == "fr"
    assert response.json()["title"] == "Introuvable"


# --- every sentence of the code is translated ------------------------------------------------------


def _templates(node: ast.expr) -> Iterator[str]:
    """The message ids a ``Text(...)``'s first argument may be: a literal, or a choice between literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _templates(node.body)
        yield from _templates(node.orelse)
    else:
        raise AssertionError(f"not a literal template: {ast.unparse(node)}")


def _text_calls() -> Iterator[tuple[str, ast.Call]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Text":
                yield f"{path.relative_to(PACKAGE)}:{node.lineno}", node


def _code_templates() -> dict[str, str]:
    """Every message id of the code's ``Text(...)`` literals, with where it stands first."""
    found: dict[str, str] = {}
    for where, call in _text_calls():
        for template in _templates(call.args[0]):
            found.setdefault(template, where)
    return found


def _french_entries() -> dict[str, str]:
    entries: dict[str, str] = {}
    for po in FRENCH_CATALOGS:
        with po.open("rb") as source:
            entries.update({m.id: m.string for m in read_po(source, locale="fr") if m.id and isinstance(m.id, str)})
    return entries


def _names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_every_text_template_is_a_literal_not_a_formatted_string() -> None:
    calls = list(_text_calls())
    assert len(calls) > 50
    for where, call in calls:
        assert call.args, where
        assert list(_templates(call.args[0])), where


def test_every_message_of_the_code_has_a_french_entry() -> None:
    french = _french_entries()
    missing = {template: where for template, where in _code_templates().items() if not french.get(template)}
    assert not missing, missing


def test_every_french_entry_names_the_values_of_its_message_id() -> None:
    for msgid, msgstr in _french_entries().items():
        if msgstr and "{" in msgid + msgstr:
            assert _names(msgstr) == _names(msgid), (msgid, msgstr)


def test_every_text_of_the_code_gives_the_values_its_template_names() -> None:
    for where, call in _text_calls():
        if len(call.args) < 2 or not isinstance(call.args[1], ast.Dict):
            continue
        given = {key.value for key in call.args[1].keys if isinstance(key, ast.Constant)}
        for template in _templates(call.args[0]):
            assert _names(template) <= given, (where, template)
