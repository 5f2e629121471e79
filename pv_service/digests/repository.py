"""Named queries of the digest: the kept counts summed by week bucket, the week's totals (grouped counts,
never a row per case in Python), and the stored digests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.digests.counts import CASE_ROW
from pv_service.digests.schemas import DigestBody, DigestTotals
from pv_service.pagination import Keyset
from pv_service.rules.priority import PRIORITIES
from pv_service.rules.workflow import SET_ASIDE
from pv_service.storage.dialect import upsert_insert
from pv_service.storage.models import Anomaly, Case, Digest, DigestCount, Patient

NEWEST_WEEKS = Keyset((Digest.week,), descending=True)


@dataclass(frozen=True)
class DigestBounds:
    """The UTC instants a digest counts between, all at local midnights (a DST week lasts 167 or 169 hours).

    ``weeks[0]`` is the digest's week, ``weeks[k]`` the week k weeks before; each week starts where the
    next one back ends."""

    weeks: tuple[tuple[datetime, datetime], ...]
    # The local Monday of each of ``weeks``: the weeks ``digest_counts`` files cases under.
    mondays: tuple[date, ...]

    @property
    def week_start(self) -> datetime:
        return self.weeks[0][0]

    @property
    def end(self) -> datetime:
        return self.weeks[0][1]


@dataclass(frozen=True)
class DigestCounts:
    """Counts per week bucket (``weeks[k]`` at index k, earlier cases last): of cases by (product, indication),
    and of distinct case × code pairs by (product, code, indication)."""

    products: dict[tuple[str, str], list[int]]
    pairs: dict[tuple[str, str, str], list[int]]


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _between(received: Any, span: tuple[datetime, datetime]) -> ColumnElement[bool]:
    return and_(received >= span[0], received < span[1])


# Grouped by its name: the expression repeated would be computed twice on SQLite, its parameters differing.
BUCKET = literal_column("bucket")


def _week_bucket(week: Any, bounds: DigestBounds) -> Any:
    """The index of the week a counted week before the digest's end is, ``len(bounds.mondays)`` when earlier.

    The oldest week is compared first: most rows are older than the weeks and take one comparison."""
    earlier = len(bounds.mondays)
    whens = [(week < bounds.mondays[-1], earlier)]
    whens += [(week <= monday, back) for back, monday in reversed(list(enumerate(bounds.mondays)))]
    return case(*whens).label(BUCKET.name)


def _in_population(bounds: DigestBounds) -> ColumnElement[bool]:
    """The cases a digest counts: received before its week's end, neither duplicate nor nullified."""
    return and_(Case.state.not_in(SET_ASIDE), Case.received_at < bounds.end)


async def digest_counts(session: AsyncSession, bounds: DigestBounds) -> DigestCounts:
    """The kept counts (``pv_service.digests.counts``) of the weeks up to the digest's, summed by week bucket in
    one grouped read of that table: every table of the digest, stratified or not, and its rises are sums of
    these few thousand rows."""
    buckets = len(bounds.mondays) + 1
    bucket = _week_bucket(DigestCount.week, bounds)
    rows = await session.execute(
        select(DigestCount.product, DigestCount.indication, DigestCount.code, bucket, func.sum(DigestCount.n))
        .where(DigestCount.week < bounds.mondays[0] + timedelta(weeks=1))
        .group_by(BUCKET, DigestCount.product, DigestCount.indication, DigestCount.code)
    )
    products: dict[tuple[str, str], list[int]] = {}
    pairs: dict[tuple[str, str, str], list[int]] = {}
    for product, indication, code, at, count in rows:
        if code == CASE_ROW:
            products.setdefault((product, indication), [0] * buckets)[at] += int(count)
        else:
            pairs.setdefault((product, code, indication), [0] * buckets)[at] += int(count)
    return DigestCounts(products=products, pairs=pairs)


def _tally(rows: Iterable[tuple[Any, int]]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for key, count in rows:
        tally[str(key)] = tally.get(str(key), 0) + int(count)
    return tally


async def totals(session: AsyncSession, bounds: DigestBounds) -> DigestTotals:
    """The week's cases (a range of ``ix_cases_digest``), the cases overdue at its end (that index alone), and
    the findings first seen in it."""
    in_week = and_(_in_population(bounds), Case.received_at >= bounds.week_start)
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
        select(func.count()).where(Case.received_at < bounds.end, Case.overdue_at(bounds.end))
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


async def stored_digest(session: AsyncSession, week: str) -> dict[str, Any] | None:
    return await session.scalar(select(Digest.body).where(Digest.week == week))


def digests_query() -> Select[Any]:
    return select(Digest.week, Digest.produced_at)


async def store_digest(
    session: AsyncSession, body: DigestBody, builtins: dict[str, Any], run_id: int, at: datetime
) -> None:
    """Insert the week's digest, or replace it when the week is produced again."""
    values = {"week": body.week, "produced_at": at, "job_run_id": run_id, "body": builtins}
    statement = upsert_insert(session, Digest).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Digest.week],
            set_={"produced_at": statement.excluded.produced_at, "job_run_id": run_id, "body": statement.excluded.body},
        )
    )


async def weekly_counts(session: AsyncSession, bounds: DigestBounds) -> list[tuple[int, int]]:
    """Cases received and serious cases in each of ``bounds.weeks`` (this week first), in one grouped read."""
    received, serious = Case.received_at, Case.serious.is_(True)
    row = (
        await session.execute(
            select(
                *(_count_if(_between(received, week)) for week in bounds.weeks),
                *(_count_if(and_(_between(received, week), serious)) for week in bounds.weeks),
            ).where(Case.state.not_in(SET_ASIDE), received >= bounds.weeks[-1][0], received < bounds.end)
        )
    ).one()
    count = len(bounds.weeks)
    return [(int(row[i] or 0), int(row[count + i] or 0)) for i in range(count)]


async def anomalies_by_kind(session: AsyncSession, bounds: DigestBounds) -> dict[str, int]:
    """The findings first seen in the digest's week, counted by kind (the breakdown of ``totals.anomalies``)."""
    rows = await session.execute(
        select(Anomaly.kind, func.count())
        .where(Anomaly.first_seen >= bounds.week_start, Anomaly.first_seen < bounds.end)
        .group_by(Anomaly.kind)
    )
    return _tally((row[0], row[1]) for row in rows)
