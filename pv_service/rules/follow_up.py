"""Complex consultations due at M1, M3, M6, M12, M18, M24 and M30 after inclusion (ANSM seed 002), and
when one counts as missed."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta

COMPLEX_CONSULTATION_MONTHS = (1, 3, 6, 12, 18, 24, 30)
# A consultation not recorded a month after its due date is missed.
GRACE = timedelta(days=30)


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)


def missed_consultations(
    inclusion: date,
    *,
    recorded_months: Collection[int],
    withdrawal: date | None,
    experimentation_end: date | None,
    as_of: date,
) -> list[tuple[int, date]]:
    """The (month, due date) pairs of complex consultations due, past their grace, and not recorded."""
    missed = []
    for month in COMPLEX_CONSULTATION_MONTHS:
        due = add_months(inclusion, month)
        if due + GRACE > as_of:
            break
        stopped = (withdrawal is not None and due >= withdrawal) or (
            experimentation_end is not None and due > experimentation_end
        )
        if not stopped and month not in recorded_months:
            missed.append((month, due))
    return missed
