"""``weekly-signal-digest`` (SPEC §6, §14): the week's totals and the disproportionality of every product
(and ratio class) × coded reaction pair, cumulative and over the last 12 weeks, plus rises.

Every count comes from two grouped queries with conditional sums (one over cases by product, one over
distinct case × code pairs); the 2×2 tables follow from them because each case has one suspect product:
a case with a code is counted under exactly one product. The statistics come from
``pv_service.rules.disproportionality``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.jobs.periods import JobPeriod
from pv_service.jobs.runner import JobOutput
from pv_service.rules.disproportionality import Table2x2, measure, rise
from pv_service.storage.dialect import upsert_insert
from pv_service.storage.models import Anomaly, Case, CaseReaction, Digest, Patient

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
EXCLUDED_STATES = ("nullified", "duplicate")
BASELINE_WEEKS = 12


class DigestPair(msgspec.Struct, frozen=True, kw_only=True):
    level: str
    window: str
    product: str
    reaction: str
    a: int
    b: int
    c: int
    d: int
    prr: float | None
    chi2: float | None
    ror: float | None
    ror_lower: float | None
    ror_upper: float | None
    ic: float | None
    ic025: float | None
    signal: bool
    new: bool


class RisingPair(msgspec.Struct, frozen=True, kw_only=True):
    product: str
    reaction: str
    count: int
    baseline_mean: float
    threshold: float


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


@dataclass(frozen=True)
class _Bounds:
    """The UTC instants a digest counts from: the ends of this week, the previous one, and 12-week windows."""

    week_start: datetime
    end: datetime
    previous_end: datetime

    def week(self, back: int) -> tuple[datetime, datetime]:
        start = self.week_start - timedelta(weeks=back)
        return start, start + timedelta(weeks=1)


def _bounds(context: ServiceContext, period: JobPeriod) -> _Bounds:
    def instant(day: Any) -> datetime:
        return datetime.combine(day, time(0), tzinfo=context.settings.zone).astimezone(UTC)

    return _Bounds(week_start=instant(period.first), end=instant(period.end), previous_end=instant(period.first))


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _windows(received: Any, bounds: _Bounds) -> list[Any]:
    """Conditional counts, in order: cumulative now and before, last 12 weeks now and before, then each of
    the 13 weeks from this one back."""
    twelve = timedelta(weeks=BASELINE_WEEKS)
    columns = [
        _count_if(received < bounds.end),
        _count_if(received < bounds.previous_end),
        _count_if(and_(received >= bounds.end - twelve, received < bounds.end)),
        _count_if(and_(received >= bounds.previous_end - twelve, received < bounds.previous_end)),
    ]
    for back in range(BASELINE_WEEKS + 1):
        start, stop = bounds.week(back)
        columns.append(_count_if(and_(received >= start, received < stop)))
    return columns


async def _pair_counts(
    session: AsyncSession, bounds: _Bounds
) -> tuple[dict[str, list[int]], dict[tuple[str, str], list[int]]]:
    population = and_(Case.state.not_in(EXCLUDED_STATES), Case.received_at < bounds.end)
    by_product = await session.execute(
        select(Case.product, *_windows(Case.received_at, bounds)).where(population).group_by(Case.product)
    )
    products = {row[0]: [int(v or 0) for v in row[1:]] for row in by_product}
    coded = (
        select(Case.id.label("case_id"), Case.product, CaseReaction.code, Case.received_at)
        .join(CaseReaction, CaseReaction.case_id == Case.id)
        .where(population, CaseReaction.code.is_not(None))
        .distinct()
        .subquery()
    )
    by_pair = await session.execute(
        select(coded.c.product, coded.c.code, *_windows(coded.c.received_at, bounds)).group_by(
            coded.c.product, coded.c.code
        )
    )
    pairs = {(row[0], row[1]): [int(v or 0) for v in row[2:]] for row in by_pair}
    return products, pairs


def _tables(
    products: dict[str, list[int]], pairs: dict[tuple[str, str], list[int]], column: int
) -> dict[tuple[str, str], Table2x2]:
    """2×2 tables for every (group, code) with a ≥ 1, from counts per group and per (group, code)."""
    n = sum(counts[column] for counts in products.values())
    per_code: dict[str, int] = {}
    for (_, code), counts in pairs.items():
        per_code[code] = per_code.get(code, 0) + counts[column]
    tables = {}
    for (group, code), counts in pairs.items():
        a = counts[column]
        if a == 0:
            continue
        with_group = products.get(group, [0] * len(counts))[column]
        b = with_group - a
        c = per_code[code] - a
        tables[(group, code)] = Table2x2(a=a, b=b, c=c, d=n - a - b - c)
    return tables


def _by_ratio(
    context: ServiceContext, products: dict[str, list[int]], pairs: dict[tuple[str, str], list[int]]
) -> tuple[dict[str, list[int]], dict[tuple[str, str], list[int]]]:
    def ratio(code: str) -> str:
        product = context.reference.products.get(code)
        return product.ratio if product else "unknown"

    def add(target: dict[Any, list[int]], key: Any, counts: list[int]) -> None:
        current = target.setdefault(key, [0] * len(counts))
        for index, value in enumerate(counts):
            current[index] += value

    ratios: dict[str, list[int]] = {}
    ratio_pairs: dict[tuple[str, str], list[int]] = {}
    for code, counts in products.items():
        add(ratios, ratio(code), counts)
    for (code, reaction), counts in pairs.items():
        add(ratio_pairs, (ratio(code), reaction), counts)
    return ratios, ratio_pairs


def _pairs(
    context: ServiceContext, products: dict[str, list[int]], pairs: dict[tuple[str, str], list[int]]
) -> list[DigestPair]:
    levels = {"product": (products, pairs), "ratio": _by_ratio(context, products, pairs)}
    result = []
    for level, (groups, group_pairs) in levels.items():
        for window, now_column, before_column in (("cumulative", 0, 1), ("last_12_weeks", 2, 3)):
            before = {
                key for key, table in _tables(groups, group_pairs, before_column).items() if measure(table).signal
            }
            for (group, code), table in sorted(_tables(groups, group_pairs, now_column).items()):
                stats = measure(table)
                result.append(
                    DigestPair(
                        level=level,
                        window=window,
                        product=group,
                        reaction=code,
                        a=table.a,
                        b=table.b,
                        c=table.c,
                        d=table.d,
                        prr=stats.prr,
                        chi2=stats.chi2,
                        ror=stats.ror,
                        ror_lower=stats.ror_lower,
                        ror_upper=stats.ror_upper,
                        ic=stats.ic,
                        ic025=stats.ic025,
                        signal=stats.signal,
                        new=stats.signal and (group, code) not in before,
                    )
                )
    return result


def _rising(pairs: dict[tuple[str, str], list[int]]) -> list[RisingPair]:
    result = []
    for (product, code), counts in sorted(pairs.items()):
        this_week, previous = counts[4], counts[5 : 5 + BASELINE_WEEKS]
        judged = rise(this_week, previous)
        if judged.rising:
            result.append(
                RisingPair(
                    product=product,
                    reaction=code,
                    count=judged.count,
                    baseline_mean=judged.baseline_mean,
                    threshold=judged.threshold,
                )
            )
    return result


def _tally(rows: Iterable[tuple[Any, int]]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for key, count in rows:
        tally[str(key)] = tally.get(str(key), 0) + int(count)
    return tally


async def _totals(session: AsyncSession, bounds: _Bounds) -> DigestTotals:
    in_week = and_(
        Case.state.not_in(EXCLUDED_STATES), Case.received_at >= bounds.week_start, Case.received_at < bounds.end
    )
    rows = list(
        await session.execute(
            select(Case.priority, Patient.indication, Case.product, Case.serious, func.count())
            .join(Patient, Patient.id == Case.patient_id)
            .where(in_week)
            .group_by(Case.priority, Patient.indication, Case.product, Case.serious)
        )
    )
    by_priority = dict.fromkeys(PRIORITIES, 0) | _tally((r[0], r[4]) for r in rows)
    overdue = await session.scalar(
        select(func.count()).where(
            Case.state.not_in(("closed", *EXCLUDED_STATES)),
            Case.received_at < bounds.end,
            or_(
                and_(or_(Case.forwarded_at.is_(None), Case.forwarded_at >= bounds.end), Case.forward_due < bounds.end),
                and_(Case.state == "received", Case.triage_due < bounds.end),
            ),
        )
    )
    anomalies = await session.scalar(
        select(func.count()).where(Anomaly.first_seen >= bounds.week_start, Anomaly.first_seen < bounds.end)
    )
    return DigestTotals(
        received=sum(int(r[4]) for r in rows),
        serious=sum(int(r[4]) for r in rows if r[3]),
        by_priority=by_priority,
        by_indication=_tally((r[1], r[4]) for r in rows),
        by_product=_tally((r[2], r[4]) for r in rows),
        overdue=int(overdue or 0),
        anomalies=int(anomalies or 0),
    )


async def build_digest(context: ServiceContext, period: JobPeriod) -> DigestBody:
    bounds = _bounds(context, period)
    async with context.database.read_session() as session:
        totals = await _totals(session, bounds)
        products, pairs = await _pair_counts(session, bounds)
    today = utc_now().astimezone(context.settings.zone).date()
    return DigestBody(
        week=period.key,
        start=period.first.isoformat(),
        end=period.last.isoformat(),
        complete=period.is_complete(today),
        totals=totals,
        pairs=_pairs(context, products, pairs),
        rising=_rising(pairs),
    )


async def weekly_signal_digest(context: ServiceContext, period: JobPeriod) -> JobOutput:
    body = await build_digest(context, period)

    async def write(session: AsyncSession, run_id: int) -> dict[str, int]:
        values = {"week": body.week, "produced_at": utc_now(), "job_run_id": run_id, "body": msgspec.to_builtins(body)}
        statement = upsert_insert(session, Digest).values(**values)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[Digest.week],
                set_={
                    "produced_at": statement.excluded.produced_at,
                    "job_run_id": run_id,
                    "body": statement.excluded.body,
                },
            )
        )
        return {
            "received": body.totals.received,
            "pairs": len(body.pairs),
            "signals": sum(p.signal for p in body.pairs),
            "rising": len(body.rising),
        }

    return JobOutput(write=write)
