"""Named queries of the digest: grouped counts with conditional sums (never a row per case in Python),
and the stored digests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.digests.schemas import DigestBody, DigestTotals
from pv_service.pagination import Keyset
from pv_service.rules.priority import PRIORITIES
from pv_service.rules.workflow import SET_ASIDE
from pv_service.storage.dialect import upsert_insert
from pv_service.storage.models import Anomaly, Case, CaseReaction, Digest, Patient

NEWEST_WEEKS = Keyset((Digest.week,), descending=True)


@dataclass(frozen=True)
class DigestBounds:
    """The UTC instants a digest counts between, all at local midnights (a DST week lasts 167 or 169 hours).

    ``weeks[0]`` is the digest's week, ``weeks[k]`` the week k weeks before; each week starts where the
    next one back ends."""

    weeks: tuple[tuple[datetime, datetime], ...]

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


def _week_bucket(received: Any, bounds: DigestBounds) -> Any:
    """The index of the week a receipt before ``bounds.end`` falls in, ``len(bounds.weeks)`` when earlier.

    The oldest boundary is compared first: most cases are older than the weeks and take one comparison."""
    earlier = len(bounds.weeks)
    whens = [(received < bounds.weeks[-1][0], earlier)]
    whens += [(received < week_end, back) for back, (_, week_end) in reversed(list(enumerate(bounds.weeks)))]
    return case(*whens).label(BUCKET.name)


def _in_population(bounds: DigestBounds) -> ColumnElement[bool]:
    """The cases a digest counts: received before its week's end, neither duplicate nor nullified."""
    return and_(Case.state.not_in(SET_ASIDE), Case.received_at < bounds.end)


def _by_bucket(rows: Iterable[Any], buckets: int) -> dict[Any, list[int]]:
    """Rows of (key columns..., bucket, count) as a list of counts per bucket for each key."""
    counts: dict[Any, list[int]] = {}
    for *key, bucket, count in rows:
        counts.setdefault(tuple(key), [0] * buckets)[bucket] += count
    return counts


async def digest_counts(session: AsyncSession, bounds: DigestBounds) -> DigestCounts:
    """One pass over the cases and one over their coded reactions, grouped by week bucket: every table of the
    digest, stratified or not, and its rises are sums of these few thousand rows. The cases pass reads
    ``ix_cases_digest`` alone (grouped by the bucket first, SQLite's planner keeps to it rather than to the
    index by product); the pairs pass reads the codes from ``ix_case_reactions_case_code`` alone, then each
    case by its key."""
    buckets = len(bounds.weeks) + 1
    bucket = _week_bucket(Case.received_at, bounds)
    by_case = await session.execute(
        select(Case.product, Patient.indication, bucket, func.count())
        .join(Patient, Patient.id == Case.patient_id)
        .where(_in_population(bounds))
        .group_by(BUCKET, Case.product, Patient.indication)
    )
    # A code given twice in one case counts the case once. Distinct pairs first rather than a count(DISTINCT):
    # PostgreSQL then aggregates by hashing instead of sorting every row.
    coded = select(CaseReaction.case_id, CaseReaction.code).where(CaseReaction.code.is_not(None)).distinct().subquery()
    by_pair = await session.execute(
        select(Case.product, coded.c.code, Patient.indication, bucket, func.count())
        .select_from(coded)
        .join(Case, Case.id == coded.c.case_id)
        .join(Patient, Patient.id == Case.patient_id)
        .where(_in_population(bounds))
        .group_by(BUCKET, Case.product, coded.c.code, Patient.indication)
    )
    return DigestCounts(products=_by_bucket(by_case, buckets), pairs=_by_bucket(by_pair, buckets))


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
