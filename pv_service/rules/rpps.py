"""RPPS numbers: 11 digits, the last a Luhn check digit (ANS, Répertoire partagé des professionnels de santé)."""

from __future__ import annotations


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
