"""Named queries of triage: the queue, its counts and line listing, a case's audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.pagination import Keyset
from pv_service.rules.workflow import FINISHED
from pv_service.storage.models import AuditEntry, Case, CaseReaction, Patient
from pv_service.triage.schemas import QueueCounts, QueueFilters

# SPEC §13: by priority, then triage due date, receipt and id.
QUEUE_ORDER = Keyset((Case.priority, Case.triage_due, Case.received_at, Case.id))
AUDIT_ORDER = Keyset((AuditEntry.id,))


def queue_conditions(filters: QueueFilters, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        Case.state.in_(filters.states) if filters.states else Case.state.not_in(FINISHED)
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
        conditions.append(Case.overdue_at(now) if filters.overdue else ~Case.overdue_at(now))
    return conditions


def queue_key(case: Case) -> list[Any]:
    return [case.priority, case.triage_due, case.received_at, case.id]


def queue_query(conditions: Sequence[ColumnElement[bool]]) -> Select[Any]:
    return select(Case).where(*conditions)


def line_listing_query(conditions: Sequence[ColumnElement[bool]]) -> Select[Any]:
    return select(Case, Patient).join(Patient, Patient.id == Case.patient_id).where(*conditions)


async def reaction_codes(session: AsyncSession, case_ids: list[int]) -> dict[int, list[str | None]]:
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


async def reactions_by_case(session: AsyncSession, case_ids: list[int]) -> dict[int, list[CaseReaction]]:
    reactions: dict[int, list[CaseReaction]] = {case_id: [] for case_id in case_ids}
    if case_ids:
        found = await session.scalars(
            select(CaseReaction).where(CaseReaction.case_id.in_(case_ids)).order_by(CaseReaction.position)
        )
        for reaction in found:
            reactions[reaction.case_id].append(reaction)
    return reactions


async def queue_counts(session: AsyncSession, conditions: Sequence[ColumnElement[bool]]) -> QueueCounts:
    by_state = await session.execute(select(Case.state, func.count()).where(*conditions).group_by(Case.state))
    by_priority = await session.execute(select(Case.priority, func.count()).where(*conditions).group_by(Case.priority))
    return QueueCounts(state=dict(by_state.all()), priority=dict(by_priority.all()))  # type: ignore[arg-type]


def audit_query(case_id: int) -> Select[Any]:
    return select(AuditEntry).where(AuditEntry.entity == "case", AuditEntry.entity_id == str(case_id))
