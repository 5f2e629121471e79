"""Personal identifiers in free texts (SPEC §3, §14): a NIR with a valid key, a French phone number, an
e-mail address. The finding names the kind only: the value itself must never travel further."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pv_service.rules.field_error import FieldError

IdentifierKind = Literal["nir", "phone", "email"]
_SEP = r"[ .\-]?"
# NIR: sex, year, month, department (2A/2B for Corsica), commune, order number, then a 2-digit key.
_NIR = re.compile(
    rf"(?<![0-9])([1-478]){_SEP}(\d{{2}}){_SEP}(\d{{2}}){_SEP}(\d{{2}}|2[ABab]){_SEP}(\d{{3}}){_SEP}(\d{{3}})"
    rf"{_SEP}(\d{{2}})(?![0-9])"
)
# A phone number stands alone: not the tail nor the head of a longer run of digit groups.
_PHONE = re.compile(
    rf"(?<![\d+])(?<![\d+][ .\-])(?:0[1-9](?:{_SEP}\d){{8}}|\+33{_SEP}[1-9](?:{_SEP}\d){{8}})(?![ .\-]?\d)"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_LABELS = {"nir": "a social-security number (NIR)", "phone": "a phone number", "email": "an e-mail address"}


def nir_key_is_valid(body13: str, key: str) -> bool:
    """Key = 97 − (the first 13 characters mod 97), Corsica's 2A and 2B read as 19 and 18."""
    digits = body13.upper().replace("2A", "19").replace("2B", "18")
    return digits.isdigit() and int(key) == 97 - int(digits) % 97


def _has_nir(text: str) -> bool:
    for match in _NIR.finditer(text):
        *parts, key = match.groups()
        if nir_key_is_valid("".join(parts), key):
            return True
    return False


def find_personal_identifier(text: str) -> IdentifierKind | None:
    if _has_nir(text):
        return "nir"
    if _PHONE.search(text):
        return "phone"
    if _EMAIL.search(text):
        return "email"
    return None


def personal_identifier_errors(texts: Iterable[tuple[str, str | None]]) -> list[FieldError]:
    """One error per field (path, text) that holds an identifier; the message never quotes the value."""
    errors = []
    for field, text in texts:
        kind = find_personal_identifier(text) if text else None
        if kind is not None:
            errors.append(
                FieldError(
                    field,
                    "personal_identifier",
                    f"'{field}' seems to contain {_LABELS[kind]}; remove identifying data from free texts.",
                )
            )
    return errors
