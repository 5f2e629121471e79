"""The digest's counts, kept as cases are written (SPEC §9: the digest within 5 × one grouped count).

``digest_counts`` holds, for each local week of receipt, suspect product and patient's indication, the cases
of the digest's population (code '') and the distinct case × code pairs (one row per code). Every write that
changes what a case contributes — intake, a follow-up, a triage action, a patient's new indication —
updates the table in its own transaction, so the digest reads a few thousand rows instead of every case.

Beside the weeks, rows under the week ``ALL_TIME`` hold the same counts summed over every week: the digest
reads the weeks before its window as all time less the few weeks from the window on, never every old week.
``add`` writes both in one statement, so they cannot part.

Online writers add net changes in key order, one statement: two transactions meeting on the same rows take
them in the same order, and an action that changes no contribution writes nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.rules.workflow import SET_ASIDE
from pv_service.storage.dialect import upsert_insert
from pv_service.storage.models import Case, CaseReaction, DigestCount, Patient

Key = tuple[date, str, str, str]
"""(week, product, indication, code): code '' for the case itself."""
CASE_ROW = ""
# The week of the rows that sum every week: a Monday before any week of receipt, so first in key order too
# (not date.min, which asyncpg stores as PostgreSQL's -infinity).
ALL_TIME = date(1900, 1, 1)
_PATIENTS_AT_ONCE = 5000

COUNTS: Table = DigestCount.__table__  # type: ignore[assignment]

Cases = Sequence[int] | Select[Any]
"""Case ids, or a select of them."""


def local_monday(moment: datetime, zone: ZoneInfo) -> date:
    """The Monday, in ``zone``, of the week ``moment`` falls in: the week a case is counted under."""
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


def contributions(cases: Cases | None, *, by_patient: bool = False) -> Select[Any]:
    """What ``cases`` (every case when None) add to the table, grouped: (week, product, indication, code, n),
    with the patient's id after the product when ``by_patient``.

    A case set aside counts nowhere; a code given twice in one case counts the case once."""
    counted = [Case.state.not_in(SET_ASIDE)]
    coded = [CaseReaction.code.is_not(None)]
    if cases is not None:
        counted.append(Case.id.in_(cases))
        coded.append(CaseReaction.case_id.in_(cases))
    keys = [Case.received_week, Case.product, *([Patient.id] if by_patient else []), Patient.indication]
    per_case = (
        select(*keys, literal(CASE_ROW), func.count())
        .join(Patient, Patient.id == Case.patient_id)
        .where(*counted)
        .group_by(*keys)
    )
    pairs = select(CaseReaction.case_id, CaseReaction.code).where(*coded).distinct().subquery()
    per_code = (
        select(*keys, pairs.c.code, func.count())
        .select_from(pairs)
        .join(Case, Case.id == pairs.c.case_id)
        .join(Patient, Patient.id == Case.patient_id)
        .where(*counted)
        .group_by(*keys, pairs.c.code)
    )
    both = union_all(per_case, per_code).subquery()
    return select(*both.c)


async def counted(session: AsyncSession, cases: Cases) -> Counter[Key]:
    """What ``cases`` contribute as they stand (pending changes flushed first)."""
    await session.flush()
    rows = await session.execute(contributions(cases))
    return Counter({(week, product, indication, code): int(n) for week, product, indication, code, n in rows})


def with_all_time(weeks: Mapping[Key, int]) -> Counter[Key]:
    """``weeks`` and, under ``ALL_TIME``, their sums over the weeks."""
    both = Counter(weeks)
    for (_, product, indication, code), n in weeks.items():
        both[(ALL_TIME, product, indication, code)] += n
    return both


async def add(session: AsyncSession, changes: Mapping[Key, int]) -> None:
    """Add ``changes`` (by week of receipt) to the counts and to their all-time rows, in key order, leaving
    out the keys that do not change: one statement run for each row, so that it is compiled once for every
    writer however many rows each brings."""
    rows = [
        {"week": week, "product": product, "indication": indication, "code": code, "n": n}
        for (week, product, indication, code), n in sorted(with_all_time(changes).items())
        if n
    ]
    if not rows:
        return
    statement = upsert_insert(session, COUNTS)
    statement = statement.on_conflict_do_update(
        index_elements=[COUNTS.c.week, COUNTS.c.product, COUNTS.c.indication, COUNTS.c.code],
        set_={"n": COUNTS.c.n + statement.excluded.n},
    )
    await session.execute(statement, rows)


async def count_cases(session: AsyncSession, cases: Cases) -> None:
    """Add what new ``cases`` contribute, once their reactions are stored: one grouped read, one write."""
    await add(session, await counted(session, cases))


@asynccontextmanager
async def recounting(session: AsyncSession, cases: Cases) -> AsyncIterator[None]:
    """Around a change of ``cases`` (their state, product, codes, week or patient): their contributions are
    read before and after, and only the difference is written."""
    before = await counted(session, cases)
    yield
    after = await counted(session, cases)
    after.subtract(before)
    await add(session, after)


async def reindicated(session: AsyncSession, previous: Mapping[int, str]) -> None:
    """After patients' indications changed (``previous`` the indication each patient id had): their cases
    move from the old indication to the new one — one grouped read of those patients' cases per
    thousands of patients, one write."""
    await session.flush()
    changes: Counter[Key] = Counter()
    patients = iter(previous)
    while chunk := list(islice(patients, _PATIENTS_AT_ONCE)):
        cases = select(Case.id).where(Case.patient_id.in_(chunk))
        for week, product, patient_id, indication, code, n in await session.execute(
            contributions(cases, by_patient=True)
        ):
            changes[(week, product, previous[patient_id], code)] -= int(n)
            changes[(week, product, indication, code)] += int(n)
    await add(session, changes)


async def stored_counts(session: AsyncSession) -> dict[Key, int]:
    """The table's rows that count (not zero), the all-time ones with them, as a mapping."""
    rows = await session.execute(
        select(DigestCount.week, DigestCount.product, DigestCount.indication, DigestCount.code, DigestCount.n).where(
            DigestCount.n != 0
        )
    )
    return {(week, product, indication, code): int(n) for week, product, indication, code, n in rows}


async def recomputed_counts(session: AsyncSession) -> dict[Key, int]:
    """What the table should hold, recomputed from every case: the weeks, and all time from them."""
    rows = await session.execute(contributions(None))
    weeks = {(week, product, indication, code): int(n) for week, product, indication, code, n in rows}
    return {key: n for key, n in with_all_time(weeks).items() if n}


def new_case(week: date, product: str, indication: str, codes: Iterable[str | None]) -> Counter[Key]:
    """What a case written just now adds: it is counted (a new case is never set aside), and each of its codes
    once. The same rule as ``contributions``, for a writer that has the case in hand (intake)."""
    added: Counter[Key] = Counter({(week, product, indication, CASE_ROW): 1})
    added.update((week, product, indication, code) for code in {code for code in codes if code is not None})
    return added
