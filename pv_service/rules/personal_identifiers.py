"""Personal identifiers in free texts (SPEC §3, §14, §15): a NIR with a valid key (mainland, Corsican or
overseas), a French phone number (national or international, +33 (0)6…, 0033 6…, 06/12/34/56/78), an
e-mail address. The finding names the kind only: the value itself must never travel further."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Literal

from pv_service.rules.field_error import FieldError
from pv_service.rules.text import Text

IdentifierKind = Literal["nir", "phone", "email"]
_SEP = r"[ .\-]?"
# NIR: sex, year, month, then the place of birth — a 2-digit department (2A/2B for Corsica, 99 abroad) and a
# 3-digit commune, or an overseas 3-digit department (97x, 98x) and a 2-digit commune: 5 digits either way —
# then the order number and a 2-digit key.
_NIR = re.compile(
    rf"(?<![0-9])([1-478]){_SEP}(\d{{2}}){_SEP}(\d{{2}}){_SEP}"
    rf"(?:(9[78]\d){_SEP}(\d{{2}})|(\d{{2}}|2[ABab]){_SEP}(\d{{3}}))"
    rf"{_SEP}(\d{{3}}){_SEP}(\d{{2}})(?![0-9])"
)
# A phone number stands alone: not the tail nor the head of a longer run of digit groups, nor the digits of
# a code that begins with letters (lot A0612345678). National: 0 and nine digits, separated by spaces, dots
# or hyphens anywhere, or by slashes in pairs (06/12/34/56/78); international: +33 or 0033, an optional
# "(0)", then the nine digits. A date followed by a number (01.02.2023 12) is not one: a month and a
# 4-digit year after the first pair make it a date.
_NINE_DIGITS = rf"[1-9](?:{_SEP}\d){{8}}"
_PHONE = re.compile(
    r"(?<![\w+])(?<![\d+][ .\-/])"
    r"(?:0[1-9](?:/\d{2}){4}"
    rf"|(?!\d{{2}}([ .\-])[01]\d\1(?:19|20)\d{{2}})0{_NINE_DIGITS}"
    rf"|(?:\+|00)33{_SEP}(?:\(0\){_SEP})?{_NINE_DIGITS})"
    r"(?![ .\-/]?\d)"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_FOUND = {
    "nir": Text("'{field}' seems to contain a social-security number (NIR); remove identifying data from free texts."),
    "phone": Text("'{field}' seems to contain a phone number; remove identifying data from free texts."),
    "email": Text("'{field}' seems to contain an e-mail address; remove identifying data from free texts."),
}


def nir_key_is_valid(body13: str, key: str) -> bool:
    """Key = 97 − (the first 13 characters mod 97), Corsica's 2A and 2B read as 19 and 18."""
    digits = body13.upper().replace("2A", "19").replace("2B", "18")
    return digits.isdigit() and int(key) == 97 - int(digits) % 97


def _is_nir(match: re.Match[str]) -> bool:
    """Whether a NIR-shaped match has a valid key."""
    *parts, key = match.groups()
    return nir_key_is_valid("".join(part for part in parts if part is not None), key)


def _has_nir(text: str) -> bool:
    return any(_is_nir(match) for match in _NIR.finditer(text))


def find_personal_identifier(text: str) -> IdentifierKind | None:
    if _has_nir(text):
        return "nir"
    if _PHONE.search(text):
        return "phone"
    if _EMAIL.search(text):
        return "email"
    return None


def redact_personal_identifiers(text: str) -> str:
    """``text`` with each identifier replaced by its kind in brackets, for texts that leave the service's
    tables, such as a job's error."""

    text = _NIR.sub(lambda match: "[nir]" if _is_nir(match) else match[0], text)
    return _EMAIL.sub("[email]", _PHONE.sub("[phone]", text))


def personal_identifier_errors(texts: Iterable[tuple[str, str | None]]) -> list[FieldError]:
    """One error per field (path, text) that holds an identifier; the message never quotes the value."""
    errors = []
    for field, text in texts:
        kind = find_personal_identifier(text) if text else None
        if kind is not None:
            errors.append(FieldError(field, "personal_identifier", replace(_FOUND[kind], values={"field": field})))
    return errors
