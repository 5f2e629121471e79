"""The entry of a dated history in force on a day: the latest dated that day or before."""

from __future__ import annotations

from datetime import date

from pv_service.rules.doses import last_on_or_before

HISTORY = [(date(2026, 1, 1), "first"), (date(2026, 2, 1), "second"), (date(2026, 3, 1), "third")]


def test_a_day_between_entries_takes_the_latest_before_it() -> None:
    assert last_on_or_before(HISTORY, date(2026, 2, 15)) == "second"


def test_an_entry_dated_the_day_itself_is_in_force_that_day() -> None:
    assert last_on_or_before(HISTORY, date(2026, 3, 1)) == "third"


def test_a_day_before_the_first_entry_has_none_in_force() -> None:
    assert last_on_or_before(HISTORY, date(2025, 12, 31)) is None


def test_an_empty_history_has_none_in_force() -> None:
    assert last_on_or_before([], date(2026, 1, 1)) is None
