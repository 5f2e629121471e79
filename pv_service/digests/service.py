"""The weekly signal digest (SPEC §6, §14, §15): the week's totals and the disproportionality of every
product (and ratio class) × coded reaction pair, cumulative and over the last 12 weeks, plus rises; and
reading digests — stored weeks as produced, the current week computed live and not stored, a past week
never produced or a future one 404.

Every count comes from one grouped read of the kept counts (``pv_service.digests.counts``: cases by week,
product and indication, and distinct case × code pairs) summed by week bucket; the windows, strata and rises
are sums of those few thousand rows, and the 2×2 tables follow from them because each case has one suspect
product: a case with a code is counted under exactly one product. The statistics come from
``pv_service.rules.disproportionality``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.digests import repository
from pv_service.digests.repository import DigestBounds
from pv_service.digests.schemas import DigestBody, DigestEntry, DigestPair, DigestTrends, RisingPair, WeekCount
from pv_service.errors import MalformedRequest, NotFound
from pv_service.jobs.periods import FIRST_YEAR, LAST_YEAR, JobPeriod, parse_period, period_containing, week_key
from pv_service.jobs.runner import JobOutput
from pv_service.pagination import Page
from pv_service.rules.disproportionality import MantelHaenszel, Table2x2, mantel_haenszel, measure, rise
from pv_service.rules.field_error import FieldError
from pv_service.rules.text import Text

BASELINE_WEEKS = 12
# Ratio-class pairs are not stratified.
NO_STRATA = MantelHaenszel(None, None, None)


def digest_bounds(context: ServiceContext, period: JobPeriod) -> DigestBounds:
    """Local Monday midnights, each converted on its own, so that weeks follow the calendar across DST."""

    def instant(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=context.settings.zone).astimezone(UTC)

    def week(back: int) -> tuple[datetime, datetime]:
        monday = period.first - timedelta(weeks=back)
        return instant(monday), instant(monday + timedelta(weeks=1))

    backs = range(BASELINE_WEEKS + 1)
    return DigestBounds(
        weeks=tuple(week(back) for back in backs), mondays=tuple(period.first - timedelta(weeks=back) for back in backs)
    )


def _windows(buckets: list[int]) -> list[int]:
    """The columns the tables are read from, out of the counts per week bucket (``buckets[k]`` the cases of
    k weeks back, the last one the cases before): cumulative now and before, the last 12 weeks now and the
    12 before, then each week from this one back."""
    weeks = buckets[:-1]
    now, before = sum(buckets), sum(buckets[1:])
    return [now, before, sum(weeks[:BASELINE_WEEKS]), sum(weeks[1 : BASELINE_WEEKS + 1]), *weeks]


K = TypeVar("K")
G = TypeVar("G")


def _summed(counts: dict[K, list[int]], key: Callable[[K], G]) -> dict[G, list[int]]:
    """The windowed counts added up under a coarser key (indications collapsed, products by ratio class)."""
    summed: dict[G, list[int]] = {}
    for fine, values in counts.items():
        current = summed.setdefault(key(fine), [0] * len(values))
        for index, value in enumerate(values):
            current[index] += value
    return summed


def _tables(
    products: dict[str, list[int]],
    pairs: dict[tuple[str, str], list[int]],
    column: int,
    keys: Iterable[tuple[str, str]] | None = None,
) -> dict[tuple[str, str], Table2x2]:
    """2×2 tables from counts per group and per (group, code): for every pair with a ≥ 1, or for ``keys``
    (a stratum's table may have a = 0)."""
    n = sum(counts[column] for counts in products.values())
    per_code: dict[str, int] = {}
    for (_, code), counts in pairs.items():
        per_code[code] = per_code.get(code, 0) + counts[column]
    tables = {}
    for group, code in pairs if keys is None else keys:
        a = pairs[(group, code)][column] if (group, code) in pairs else 0
        if keys is None and a == 0:
            continue
        b = (products[group][column] if group in products else 0) - a
        c = per_code.get(code, 0) - a
        tables[(group, code)] = Table2x2(a=a, b=b, c=c, d=n - a - b - c)
    return tables


def _stratified(
    products: dict[tuple[str, str], list[int]], pairs: dict[tuple[str, str, str], list[int]], column: int
) -> dict[tuple[str, str], MantelHaenszel]:
    """The Mantel-Haenszel ROR of every product × code pair, stratified by indication (SPEC §15)."""
    indications = sorted({indication for _, indication in products})
    keys = sorted({(product, code) for product, code, _ in pairs})
    strata = [
        _tables(
            {p: v for (p, i), v in products.items() if i == indication},
            {(p, c): v for (p, c, i), v in pairs.items() if i == indication},
            column,
            keys,
        )
        for indication in indications
    ]
    return {key: mantel_haenszel([stratum[key] for stratum in strata]) for key in keys}


def _pairs(
    context: ServiceContext,
    products: dict[tuple[str, str], list[int]],
    pairs: dict[tuple[str, str, str], list[int]],
    by_pair: dict[tuple[str, str], list[int]],
) -> list[DigestPair]:
    """Every pair's statistics; ``products`` and ``pairs`` by indication, ``by_pair`` the same pairs summed."""

    def ratio(code: str) -> str:
        product = context.reference.products.get(code)
        return product.ratio if product else "unknown"

    by_product = _summed(products, lambda key: key[0])
    levels = {
        "product": (by_product, by_pair),
        "ratio": (_summed(by_product, ratio), _summed(by_pair, lambda key: (ratio(key[0]), key[1]))),
    }
    result = []
    for level, (groups, group_pairs) in levels.items():
        for window, now_column, before_column in (("cumulative", 0, 1), ("last_12_weeks", 2, 3)):
            before = {
                key for key, table in _tables(groups, group_pairs, before_column).items() if measure(table).signal
            }
            pooled = _stratified(products, pairs, now_column) if level == "product" else {}
            for (group, code), table in sorted(_tables(groups, group_pairs, now_column).items()):
                stats = measure(table)
                mh = pooled.get((group, code), NO_STRATA)
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
                        **msgspec.structs.asdict(stats),
                        new=stats.signal and (group, code) not in before,
                        ror_mh=mh.ror,
                        ror_mh_lower=mh.lower,
                        ror_mh_upper=mh.upper,
                    )
                )
    return result


def _rising(by_pair: dict[tuple[str, str], list[int]]) -> list[RisingPair]:
    result = []
    for (product, code), counts in sorted(by_pair.items()):
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
                    p_value=judged.p_value,
                )
            )
    return result


async def build_digest(context: ServiceContext, period: JobPeriod) -> DigestBody:
    bounds = digest_bounds(context, period)
    async with context.database.read_session() as session:
        totals = await repository.totals(session, bounds)
        counts = await repository.digest_counts(session, bounds)
    products = {key: _windows(buckets) for key, buckets in counts.products.items()}
    pairs = {key: _windows(buckets) for key, buckets in counts.pairs.items()}
    by_pair = _summed(pairs, lambda key: (key[0], key[1]))
    today = utc_now().astimezone(context.settings.zone).date()
    return DigestBody(
        week=period.key,
        start=period.first.isoformat(),
        end=period.last.isoformat(),
        complete=period.is_complete(today),
        totals=totals,
        pairs=_pairs(context, products, pairs, by_pair),
        rising=_rising(by_pair),
    )


async def weekly_signal_digest(context: ServiceContext, period: JobPeriod) -> JobOutput:
    body = await build_digest(context, period)

    async def write(session: AsyncSession, run_id: int) -> dict[str, int]:
        await repository.store_digest(session, body, msgspec.to_builtins(body), run_id, utc_now())
        return {
            "received": body.totals.received,
            "pairs": len(body.pairs),
            "signals": sum(p.signal for p in body.pairs),
            "rising": len(body.rising),
        }

    return JobOutput(write=write)


async def get_digest(context: ServiceContext, week: str) -> DigestBody:
    try:
        period = parse_period("week", week)
    except ValueError:
        written = Text(
            "A week is written YYYY-Www, for example 2026-W47, in the years {first} to {last}.",
            {"first": str(FIRST_YEAR), "last": str(LAST_YEAR)},
        )
        raise MalformedRequest([FieldError("week", "invalid_value", written)]) from None
    today = utc_now().astimezone(context.settings.zone).date()
    if period.key == period_containing("week", today).key:
        return await build_digest(context, period)
    async with context.database.read_session() as session:
        stored = await repository.stored_digest(session, period.key)
    if stored is None:
        raise NotFound("digest")
    return msgspec.convert(stored, DigestBody)


async def list_digests(context: ServiceContext, cursor: str | None, limit: int) -> Page[DigestEntry]:
    query = repository.NEWEST_WEEKS.query(repository.digests_query(), cursor, limit)
    async with context.database.read_session() as session:
        rows = list(await session.execute(query))
    return repository.NEWEST_WEEKS.page(
        rows,
        limit,
        key=lambda row: [row.week],
        view=lambda row: DigestEntry(week=row.week, produced_at=row.produced_at),
    )


# A rise judged on fewer baseline weeks with cases than this says little: the system is still young (issue 10).
SHORT_BASELINE_WEEKS = 4


async def digest_trends(context: ServiceContext, digest: DigestBody) -> DigestTrends:
    """Beside a digest (as ``get_digest`` answered it): its 12 weeks of cases, all and serious, its baseline's
    weeks with cases, and its week's findings by kind — each one grouped read of the cases and findings now."""
    period = parse_period("week", digest.week)
    bounds = digest_bounds(context, period)
    async with context.database.read_session() as session:
        weekly = await repository.weekly_counts(session, bounds)
        kinds = await repository.anomalies_by_kind(session, bounds)
    with_cases = sum(1 for received, _ in weekly[1 : BASELINE_WEEKS + 1] if received)
    shown = [
        WeekCount(week=week_key(period.first - timedelta(weeks=back)), received=received, serious=serious)
        for back, (received, serious) in enumerate(weekly[:BASELINE_WEEKS])
    ]
    return DigestTrends(
        weeks=shown[::-1],
        baseline_weeks_with_cases=with_cases,
        baseline_short=with_cases < SHORT_BASELINE_WEEKS,
        anomalies_by_kind=kinds,
    )


def current_week(context: ServiceContext) -> str:
    """The week under way, whose digest is computed live."""
    return period_containing("week", utc_now().astimezone(context.settings.zone).date()).key
