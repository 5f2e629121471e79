"""Named queries of the digest: the kept counts summed by week bucket, the week's totals (grouped counts,
never a row per case in Python), and the stored digests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse

from pv_service.digests.counts import ALL_TIME, CASE_ROW
from pv_service.digests.schemas import DigestBody, DigestTotals
from pv_service.pagination import Keyset
from pv_service.rules.priority import PRIORITIES
from pv_service.rules.workflow import SET_ASIDE
from pv_service.storage.dialect import upsert_insert
from pv_service.storage.models import UNFORWARDED_OR_RECEIVED, Anomaly, Case, Digest, DigestCount, Patient

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


def _week_sums(bounds: DigestBounds) -> list[Any]:
    """One sum of the counts a column, for the rows the digest reads: each week of ``bounds.mondays``, then all
    time, then the weeks after the digest's (weeks are Mondays, so each is matched by equality)."""
    week, n = DigestCount.week, DigestCount.n
    columns = [func.sum(case((week == monday, n), else_=0)) for monday in bounds.mondays]
    columns.append(func.sum(case((week == ALL_TIME, n), else_=0)))
    columns.append(func.sum(case((week > bounds.mondays[0], n), else_=0)))
    return columns


def _earlier_last(sums: Sequence[Any]) -> list[int]:
    """The counts of the digest's weeks, then of the weeks before them: all time less the weeks read."""
    *weeks, all_time, later = (int(n or 0) for n in sums)
    return [*weeks, all_time - sum(weeks) - later]


def _in_population(bounds: DigestBounds) -> ColumnElement[bool]:
    """The cases a digest counts: received before its week's end, neither duplicate nor nullified."""
    return and_(Case.state.not_in(SET_ASIDE), Case.received_at < bounds.end)


async def digest_counts(session: AsyncSession, bounds: DigestBounds) -> DigestCounts:
    """The kept counts (``pv_service.digests.counts``) of the weeks up to the digest's, summed by week bucket in
    one grouped read of that table: every table of the digest, stratified or not, and its rises are sums of
    these few thousand rows. The weeks before the window are all time less the weeks from the window on,
    so the read is the all-time rows and those weeks, never every old week."""
    keys = [DigestCount.product, DigestCount.indication, DigestCount.code]
    rows = await session.execute(
        select(*keys, *_week_sums(bounds))
        .where(or_(DigestCount.week == ALL_TIME, DigestCount.week >= bounds.mondays[-1]))
        .group_by(*keys)
    )
    products: dict[tuple[str, str], list[int]] = {}
    pairs: dict[tuple[str, str, str], list[int]] = {}
    for product, indication, code, *sums in rows:
        counts = _earlier_last(sums)
        if not any(counts):
            continue  # counted only after the digest's week, or moved away since
        if code == CASE_ROW:
            products[(product, indication)] = counts
        else:
            pairs[(product, code, indication)] = counts
    return DigestCounts(products=products, pairs=pairs)


def _tally(rows: Iterable[tuple[Any, int]]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for key, count in rows:
        tally[str(key)] = tally.get(str(key), 0) + int(count)
    return tally


def _constants_written(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """``condition`` with its values but instants written in the SQL: a term equal to one of a partial index's
    predicate then goes unevaluated on SQLite, and PostgreSQL's planner can prove the predicate."""

    def written(element: Any) -> Any:
        if isinstance(element, BindParameter) and not isinstance(element.value, datetime):
            return element.render_literal_execute()
        return None

    return replacement_traverse(condition, {}, written)


def _overdue_count(at: datetime) -> Select[Any]:
    """The cases received before ``at`` and overdue then (``Case.overdue_at``), counted as two disjoint parts
    that each read an index of their own, never the cases forwarded before ``at`` and past received (not
    overdue then): the cases not forwarded or still received (``ix_cases_unforwarded``), and the others
    forwarded after ``at`` (a range of ``ix_cases_forwarded``)."""
    overdue = and_(Case.received_at < at, _constants_written(Case.overdue_at(at)))

    def counted(part: ColumnElement[bool]) -> Any:
        return select(func.count()).where(part, overdue).scalar_subquery()

    forwarded_later = and_(Case.forwarded_at > at, not_(UNFORWARDED_OR_RECEIVED))
    return select(counted(UNFORWARDED_OR_RECEIVED) + counted(forwarded_later))


async def totals(session: AsyncSession, bounds: DigestBounds) -> DigestTotals:
    """The week's cases (a range of ``ix_cases_digest``), the cases overdue at its end (``_overdue_count``),
    and the findings first seen in it."""
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
    overdue = await session.scalar(_overdue_count(bounds.end))
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
