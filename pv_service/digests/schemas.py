"""What a weekly signal digest holds (SPEC §6, §14, §15), as stored and as answered."""

from __future__ import annotations

from datetime import datetime

import msgspec

from pv_service.rules.disproportionality import Disproportionality


class DigestPair(Disproportionality, frozen=True, kw_only=True):
    """One product (or ratio class) × coded reaction pair, its 2×2 table and its statistics."""

    level: str
    window: str
    product: str
    reaction: str
    a: int
    b: int
    c: int
    d: int
    new: bool
    # Mantel-Haenszel ROR stratified by indication (product level; null for ratio classes or when undefined).
    ror_mh: float | None = None
    ror_mh_lower: float | None = None
    ror_mh_upper: float | None = None


class RisingPair(msgspec.Struct, frozen=True, kw_only=True):
    product: str
    reaction: str
    count: int
    baseline_mean: float
    threshold: float
    p_value: float


class DigestTotals(msgspec.Struct, frozen=True, kw_only=True):
    received: int
    serious: int
    by_priority: dict[str, int]
    by_indication: dict[str, int]
    by_product: dict[str, int]
    overdue: int
    anomalies: int


class DigestBody(msgspec.Struct, frozen=True, kw_only=True):
    week: str
    start: str
    end: str
    complete: bool
    totals: DigestTotals
    pairs: list[DigestPair]
    rising: list[RisingPair]


class DigestEntry(msgspec.Struct, frozen=True):
    week: str
    produced_at: datetime


class WeekCount(msgspec.Struct, frozen=True, kw_only=True):
    """Cases received in one local week (duplicates and nullified cases left out), and how many are serious."""

    week: str
    received: int
    serious: int


class DigestTrends(msgspec.Struct, frozen=True, kw_only=True):
    """What the digest page draws beside a digest, counted now from the cases and findings: the cases of the
    12 weeks that end with the digest's week (oldest first), how many of the 12 weeks before it had cases,
    and the week's findings by kind."""

    weeks: list[WeekCount]
    baseline_weeks_with_cases: int
    # Fewer than ``SHORT_BASELINE_WEEKS`` weeks with cases before this one: a rise means little yet.
    baseline_short: bool
    anomalies_by_kind: dict[str, int]
