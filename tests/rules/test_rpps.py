from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pv_service.rules.rpps import rpps_is_valid


def _with_key(body: str) -> str:
    for key in "0123456789":
        if rpps_is_valid(body + key):
            return body + key
    raise AssertionError("every body has exactly one Luhn key")


def test_known_rpps_numbers_are_valid() -> None:
    assert rpps_is_valid("10000000009")
    assert rpps_is_valid("10000000017")


def test_wrong_key_length_or_characters_are_refused() -> None:
    assert not rpps_is_valid("10000000008")
    assert not rpps_is_valid("1000000009")
    assert not rpps_is_valid("100000000090")
    assert not rpps_is_valid("1000000000a")
    assert not rpps_is_valid("１0000000009")  # full-width digit


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_every_ten_digits_take_exactly_one_key(body: str) -> None:
    valid = [k for k in "0123456789" if rpps_is_valid(body + k)]
    assert len(valid) == 1


@given(st.text(alphabet="0123456789", min_size=10, max_size=10), st.integers(0, 10), st.integers(1, 9))
def test_changing_one_digit_breaks_the_key(body: str, position: int, delta: int) -> None:
    rpps = _with_key(body)
    digits = list(rpps)
    digits[position] = str((int(digits[position]) + delta) % 10)
    assert not rpps_is_valid("".join(digits))
