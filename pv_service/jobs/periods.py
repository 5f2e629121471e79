"""The periods jobs run for (SPEC §14): a day ``YYYY-MM-DD``, an ISO week ``YYYY-Www``, a month ``YYYY-MM``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

PeriodKind = Literal["day", "week", "month"]
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class JobPeriod:
    kind: PeriodKind
    key: str
    first: date
    last: date

    @property
    def end(self) -> date:
        """The first day after the period."""
        return self.last + timedelta(days=1)

    def is_complete(self, today: date) -> bool:
        return self.last < today

    def previous(self) -> JobPeriod:
        return period_containing(self.kind, self.first - timedelta(days=1))


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def period_containing(kind: PeriodKind, day: date) -> JobPeriod:
    if kind == "day":
        return JobPeriod(kind, day.isoformat(), day, day)
    if kind == "week":
        monday = day - timedelta(days=day.weekday())
        return JobPeriod(kind, week_key(day), monday, monday + timedelta(days=6))
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return JobPeriod(kind, f"{first.year}-{first.month:02d}", first, following - timedelta(days=1))


# The service's calendar (SPEC §15): no period or date outside these years.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"dates and periods run from {FIRST_YEAR} to {LAST_YEAR}")


def check_in_calendar(day: date) -> date:
    """``day`` itself; ValueError when it falls outside the service's calendar."""
    _check_year(day.year)
    return day


def parse_period(kind: PeriodKind, text: str) -> JobPeriod:
    """The period a key names; ValueError when it is malformed, names no real day, week or month, or lies
    outside the service's calendar."""
    # Judged on the text's year before a date is built: year 9999's last week has no Sunday to build.
    if text[:4].isdigit():
        _check_year(int(text[:4]))
    return _parsed_period(kind, text)


def _parsed_period(kind: PeriodKind, text: str) -> JobPeriod:
    if kind == "week":
        match = _WEEK.match(text)
        if not match:
            raise ValueError("a week is written YYYY-Www, e.g. 2026-W47")
        return period_containing(kind, date.fromisocalendar(int(match[1]), int(match[2]), 1))
    if kind == "month":
        match = _MONTH.match(text)
        if not match:
            raise ValueError("a month is written YYYY-MM")
        return period_containing(kind, date(int(match[1]), int(match[2]), 1))
    if not _DAY.match(text):
        raise ValueError("a day is written YYYY-MM-DD")
    return period_containing(kind, date.fromisoformat(text))


def latest_complete(kind: PeriodKind, today: date) -> JobPeriod:
    return period_containing(kind, today).previous()
