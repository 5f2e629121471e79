"""Named queries of the digest: grouped counts with conditional sums (never a row per case in Python),
and the stored digests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, select
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

    ``weeks[0]`` is the digest's week, ``weeks[k]`` the week k weeks before; ``twelve`` and
    ``previous_twelve`` are the 12 weeks that end with this week and with the week before."""

    weeks: tuple[tuple[datetime, datetime], ...]
    twelve: tuple[datetime, datetime]
    previous_twelve: tuple[datetime, datetime]

    @property
    def week_start(self) -> datetime:
        return self.weeks[0][0]

    @property
    def end(self) -> datetime:
        return self.weeks[0][1]

    @property
    def previous_end(self) -> datetime:
        return self.weeks[0][0]


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _between(received: Any, span: tuple[datetime, datetime]) -> ColumnElement[bool]:
    return and_(received >= span[0], received < span[1])


def _windows(received: Any, bounds: DigestBounds) -> list[Any]:
    """Conditional counts, in order: cumulative now and before, last 12 weeks now and before, then each of
    the weeks from this one back."""
    columns = [
        _count_if(received < bounds.end),
        _count_if(received < bounds.previous_end),
        _count_if(_between(received, bounds.twelve)),
        _count_if(_between(received, bounds.previous_twelve)),
    ]
    columns += [_count_if(_between(received, week)) for week in bounds.weeks]
    return columns


async def pair_counts(
    session: AsyncSession, bounds: DigestBounds
) -> tuple[dict[tuple[str, str], list[int]], dict[tuple[str, str, str], list[int]]]:
    """Windowed case counts by (product, indication), and by (product, code, indication) over distinct case ×
    code pairs: every table of the digest, stratified or not, is a sum of these."""
    population = and_(Case.state.not_in(SET_ASIDE), Case.received_at < bounds.end)
    by_product = await session.execute(
        select(Case.product, Patient.indication, *_windows(Case.received_at, bounds))
        .join(Patient, Patient.id == Case.patient_id)
        .where(population)
        .group_by(Case.product, Patient.indication)
    )
    products = {(row[0], row[1]): [int(v or 0) for v in row[2:]] for row in by_product}
    coded = (
        select(Case.id.label("case_id"), Case.product, Patient.indication, CaseReaction.code, Case.received_at)
        .join(CaseReaction, CaseReaction.case_id == Case.id)
        .join(Patient, Patient.id == Case.patient_id)
        .where(population, CaseReaction.code.is_not(None))
        .distinct()
        .subquery()
    )
    by_pair = await session.execute(
        select(coded.c.product, coded.c.code, coded.c.indication, *_windows(coded.c.received_at, bounds)).group_by(
            coded.c.product, coded.c.code, coded.c.indication
        )
    )
    pairs = {(row[0], row[1], row[2]): [int(v or 0) for v in row[3:]] for row in by_pair}
    return products, pairs


def _tally(rows: Iterable[tuple[Any, int]]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for key, count in rows:
        tally[str(key)] = tally.get(str(key), 0) + int(count)
    return tally


async def totals(session: AsyncSession, bounds: DigestBounds) -> DigestTotals:
    in_week = and_(Case.state.not_in(SET_ASIDE), Case.received_at >= bounds.week_start, Case.received_at < bounds.end)
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
