"""The triage queue (SPEC §5, §13, §14): by priority, then triage due date, receipt and id; keyset pages,
so a case is never served twice nor skipped while new cases arrive; counts and the line listing."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, func, or_, select, tuple_

from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.pagination import Page, decode_cursor, encode_cursor
from pv_service.reports.service import is_overdue
from pv_service.storage.models import Case, CaseReaction, Patient, UtcDateTime

DEFAULT_EXCLUDED_STATES = ("closed", "nullified", "duplicate")
QUEUE_ORDER = (Case.priority, Case.triage_due, Case.received_at, Case.id)
CSV_BATCH = 500
LINE_LISTING_COLUMNS = (
    "case_number",
    "received",
    "age",
    "sex",
    "product",
    "dose",
    "reaction_codes",
    "onset",
    "outcome",
    "seriousness",
    "causality",
    "state",
)


@dataclass(frozen=True)
class QueueFilters:
    states: Sequence[str] = ()
    priorities: Sequence[str] = ()
    serious: bool | None = None
    assignee: str | None = None
    products: Sequence[str] = ()
    reactions: Sequence[str] = ()
    overdue: bool | None = None


class QueueItem(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    case_number: str
    state: str
    priority: str
    serious: bool
    expected: bool
    received_at: datetime
    triage_due: datetime
    forward_due: datetime
    assignee: str | None
    product: str
    reactions: list[str | None]
    overdue: bool


class QueueCounts(msgspec.Struct, frozen=True):
    state: dict[str, int]
    priority: dict[str, int]


class QueuePage(Page[QueueItem], kw_only=True):
    counts: QueueCounts | None = None


def _overdue(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Case.forwarded_at.is_(None), Case.forward_due < now),
        and_(Case.state == "received", Case.triage_due < now),
    )


def _conditions(filters: QueueFilters, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        Case.state.in_(filters.states) if filters.states else Case.state.not_in(DEFAULT_EXCLUDED_STATES)
    ]
    if filters.priorities:
        conditions.append(Case.priority.in_(filters.priorities))
    if filters.serious is not None:
        conditions.append(Case.serious.is_(filters.serious))
    if filters.assignee == "none":
        conditions.append(Case.assignee.is_(None))
    elif filters.assignee is not None:
        conditions.append(Case.assignee == filters.assignee)
    if filters.products:
        conditions.append(Case.product.in_(filters.products))
    if filters.reactions:
        conditions.append(
            exists(
                select(CaseReaction.id).where(CaseReaction.case_id == Case.id, CaseReaction.code.in_(filters.reactions))
            )
        )
    if filters.overdue is not None:
        conditions.append(_overdue(now) if filters.overdue else ~_overdue(now))
    return conditions


def _after(cursor: str) -> ColumnElement[bool]:
    priority, triage_due, received_at, case_id = decode_cursor(cursor, (str, str, str, int))
    try:
        due, received = datetime.fromisoformat(triage_due), datetime.fromisoformat(received_at)
    except ValueError:
        decode_cursor("", (str,))  # the cursor was forged: answer as for any bad cursor
        raise
    return tuple_(*QUEUE_ORDER) > tuple_(
        bindparam("cursor_priority", priority),
        bindparam("cursor_due", due, type_=UtcDateTime()),
        bindparam("cursor_received", received, type_=UtcDateTime()),
        bindparam("cursor_id", case_id),
    )


def _cursor_of(case: Case) -> str:
    return encode_cursor([case.priority, case.triage_due.isoformat(), case.received_at.isoformat(), case.id])


async def _reaction_codes(session: Any, case_ids: list[int]) -> dict[int, list[str | None]]:
    codes: dict[int, list[str | None]] = {case_id: [] for case_id in case_ids}
    if case_ids:
        rows = await session.execute(
            select(CaseReaction.case_id, CaseReaction.code)
            .where(CaseReaction.case_id.in_(case_ids))
            .order_by(CaseReaction.case_id, CaseReaction.position)
        )
        for case_id, code in rows:
            codes[case_id].append(code)
    return codes


async def _counts(session: Any, conditions: list[ColumnElement[bool]]) -> QueueCounts:
    by_state = await session.execute(select(Case.state, func.count()).where(*conditions).group_by(Case.state))
    by_priority = await session.execute(select(Case.priority, func.count()).where(*conditions).group_by(Case.priority))
    return QueueCounts(state=dict(by_state.all()), priority=dict(by_priority.all()))


async def queue_page(
    context: ServiceContext, filters: QueueFilters, cursor: str | None, limit: int, with_counts: bool
) -> QueuePage:
    now = utc_now()
    conditions = _conditions(filters, now)
    query: Select[tuple[Case]] = select(Case).where(*conditions)
    if cursor:
        query = query.where(_after(cursor))
    async with context.database.read_session() as session:
        rows = list(await session.scalars(query.order_by(*QUEUE_ORDER).limit(limit + 1)))
        page = rows[:limit]
        codes = await _reaction_codes(session, [c.id for c in page])
        counts = await _counts(session, conditions) if with_counts else None
    items = [
        QueueItem(
            id=c.id,
            case_number=c.case_number,
            state=c.state,
            priority=c.priority,
            serious=c.serious,
            expected=c.expected,
            received_at=c.received_at,
            triage_due=c.triage_due,
            forward_due=c.forward_due,
            assignee=c.assignee,
            product=c.product,
            reactions=codes[c.id],
            overdue=is_overdue(c, now),
        )
        for c in page
    ]
    return QueuePage(items=items, next_cursor=_cursor_of(page[-1]) if len(rows) > limit else None, counts=counts)


def _line(case: Case, patient: Patient, reactions: list[CaseReaction]) -> list[str]:
    onset = min((r.onset_date for r in reactions if r.onset_date), default=None)
    age_year = onset.year if onset else case.received_at.year
    dose = "; ".join(
        f"{label} {value:g} mg/d"
        for label, value in (("THC", case.daily_thc_mg), ("CBD", case.daily_cbd_mg))
        if value is not None
    )
    return [
        case.case_number,
        case.received_at.isoformat().replace("+00:00", "Z"),
        str(age_year - patient.birth_year) if patient.birth_year is not None else "",
        patient.sex,
        case.product,
        dose,
        " | ".join(r.code or "(uncoded)" for r in reactions),
        onset.isoformat() if onset else "",
        " | ".join(r.outcome or "" for r in reactions),
        " | ".join(case.criteria) if case.serious else "non-serious",
        " | ".join(_causality_text(r) for r in reactions),
        case.state,
    ]


def _causality_text(reaction: CaseReaction) -> str:
    parts = [reaction.who_umc or "", reaction.intrinsic_score or ""]
    return "/".join(p for p in parts if p) or "-"


async def line_listing(context: ServiceContext, filters: QueueFilters) -> AsyncIterator[bytes]:
    """The queue as a CIOMS II-style line listing, streamed in keyset batches."""
    now = utc_now()
    conditions = _conditions(filters, now)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(LINE_LISTING_COLUMNS)
    yield buffer.getvalue().encode()
    cursor: str | None = None
    while True:
        query = select(Case, Patient).join(Patient, Patient.id == Case.patient_id).where(*conditions)
        if cursor:
            query = query.where(_after(cursor))
        async with context.database.read_session() as session:
            rows = list(await session.execute(query.order_by(*QUEUE_ORDER).limit(CSV_BATCH)))
            reactions: dict[int, list[CaseReaction]] = {case.id: [] for case, _ in rows}
            if rows:
                found = await session.scalars(
                    select(CaseReaction)
                    .where(CaseReaction.case_id.in_(list(reactions)))
                    .order_by(CaseReaction.position)
                )
                for reaction in found:
                    reactions[reaction.case_id].append(reaction)
        if not rows:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for case, patient in rows:
            writer.writerow(_line(case, patient, reactions[case.id]))
        yield buffer.getvalue().encode()
        cursor = _cursor_of(rows[-1][0])
