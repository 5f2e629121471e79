"""RPPS numbers: 11 digits, the last a Luhn check digit (ANS, Répertoire partagé des professionnels de santé)."""

from __future__ import annotations

from pv_service.rules.field_error import FieldError
from pv_service.rules.text import Text


def luhn_is_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def rpps_is_valid(rpps: str) -> bool:
    return len(rpps) == 11 and rpps.isascii() and rpps.isdigit() and luhn_is_valid(rpps)


def luhn_check_digit(payload: str) -> str:
    """The digit that completes ``payload`` into a number passing the Luhn check."""
    return next(d for d in "0123456789" if luhn_is_valid(payload + d))


def rpps_error(field: str, rpps: str) -> FieldError | None:
    """The error an invalid RPPS gets, whichever path it came by; None when it is valid."""
    if rpps_is_valid(rpps):
        return None
    return FieldError(field, "invalid_value", Text("An RPPS has 11 digits and a valid Luhn key."))
