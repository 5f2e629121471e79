"""Triage (SPEC §5, §13, §14): the queue and its line listing, and actions on a case — one transaction
each, checked for staleness, audited.

Order of refusals for an action: 404 (case unknown), 428 (no If-Match) / 412 (stale), 409 (not allowed in this
state), 422 (the action's own rules). The row is locked before the ETag is compared, so of two
actions sent with the same ETag exactly one wins and the other gets 412.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from msgspec import UNSET
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.audit import record_audit
from pv_service.cases import repository as cases
from pv_service.cases.schemas import CaseDetail, etag_of
from pv_service.cases.service import case_detail, check_if_match, latest_body, reachable_case, reassess
from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.digests.counts import recounting
from pv_service.errors import NotForwarded, RuleViolation, StateConflict
from pv_service.pagination import Page
from pv_service.rules import causality
from pv_service.rules.assessment import reported_criteria
from pv_service.rules.field_error import FieldError
from pv_service.rules.seriousness import CRITERIA, reaction_criteria
from pv_service.rules.text import Text
from pv_service.rules.workflow import is_allowed, next_state
from pv_service.storage.models import Case, CaseReaction, FollowUpRequest, Patient, User
from pv_service.triage import repository
from pv_service.triage import schemas as actions
from pv_service.triage.schemas import AuditItem, QueueFilters, QueueItem, QueuePage
from pv_service.users.schemas import Caller

FOLLOW_UP_REPLY_DAYS = 14
_AUDITED_CASE_FIELDS = (
    "state",
    "priority",
    "serious",
    "expected",
    "criteria",
    "suggested_criteria",
    "assignee",
    "forwarded_at",
    "duplicate_of",
    "nullification_reason",
)
_AUDITED_REACTION_FIELDS = (
    "code",
    "criteria",
    "staff_criteria",
    "who_umc",
    "chronology",
    "semiology",
    "intrinsic_score",
)


_DETAIL_FIELDS = ("reason", "message", "reply_by", "destination", "reference", "master")


def _plain(value: Any) -> Any:
    """Dates as ISO text; instants in UTC with ``Z``, as the API writes them."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat() if isinstance(value, date) else value


def _action_details(action: actions.TriageAction) -> dict[str, Any]:
    """What the action said beyond the fields it changed (a reason, a message, a destination)."""
    return {name: _plain(getattr(action, name)) for name in _DETAIL_FIELDS if getattr(action, name, None) is not None}


def _snapshot(case: Case, reaction: CaseReaction | None) -> dict[str, Any]:
    state = {name: _plain(getattr(case, name)) for name in _AUDITED_CASE_FIELDS}
    if reaction is not None:
        state |= {
            f"reactions[{reaction.position}].{name}": getattr(reaction, name) for name in _AUDITED_REACTION_FIELDS
        }
    return state


def _asked(action: actions.TriageAction, reaction: CaseReaction | None) -> set[str]:
    """The reaction fields the action sets: audited even when it sets them to what they were."""
    if reaction is None:
        return set()
    return {
        f"reactions[{reaction.position}].{name}"
        for name in _AUDITED_REACTION_FIELDS
        if getattr(action, name, UNSET) not in (UNSET, None)
    }


def _changes(before: dict[str, Any], after: dict[str, Any], asked: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    changed = [name for name in after if before.get(name) != after[name] or name in asked]
    return {name: before.get(name) for name in changed}, {name: after[name] for name in changed}


def _reaction_count(count: int) -> Text:
    if count == 1:
        return Text("The case has one reaction (index 0).")
    return Text("The case has {count} reactions (indexes from 0).", {"count": count})


class _Step:
    """What one action needs while it runs: the session, the locked case and its reactions."""

    def __init__(self, session: AsyncSession, context: ServiceContext, caller: Caller, case: Case) -> None:
        self.session = session
        self.context = context
        self.caller = caller
        self.case = case
        self.reactions: list[CaseReaction] = []

    def reaction(self, index: int) -> CaseReaction:
        if index >= len(self.reactions):
            raise RuleViolation([FieldError("reaction", "invalid_value", _reaction_count(len(self.reactions)))])
        return self.reactions[index]


async def _assign(step: _Step, action: actions.Assign) -> None:
    user = await step.session.get(User, action.assignee)
    if user is None or user.role != "pv_staff":
        raise RuleViolation([FieldError("assignee", "unknown_reference", Text("No PV staff member with this RPPS."))])
    step.case.assignee = action.assignee


async def _code(step: _Step, action: actions.CodeReaction) -> None:
    reaction = step.reaction(action.reaction)
    if action.code not in step.context.reference.reactions:
        raise RuleViolation([FieldError("code", "unknown_reaction_code", Text("Not a term of the vocabulary."))])
    reaction.code = action.code
    await reassess(step.session, step.context, step.case)


async def _set_seriousness(step: _Step, action: actions.SetSeriousness) -> None:
    reaction = step.reaction(action.reaction)
    body = await latest_body(step.session, step.case)
    reported = reaction_criteria(reported_criteria(body.reactions[action.reaction]), None) if body.reactions else ()
    chosen = [name for name in CRITERIA if getattr(action.seriousness, name)]
    removed = [name for name in reported if name not in chosen]
    if removed and not (action.reason and action.reason.strip()):
        raise RuleViolation(
            [
                FieldError(
                    "reason",
                    "invalid_value",
                    Text(
                        "Removing the reporter's criteria ({criteria}) needs a reason.",
                        {"criteria": ", ".join(removed)},
                    ),
                )
            ]
        )
    reaction.staff_criteria = chosen
    await reassess(step.session, step.context, step.case)


def _given(value: Any, stored: Any) -> Any:
    return stored if value is UNSET else value


async def _assess(step: _Step, action: actions.Assess) -> None:
    reaction = step.reaction(action.reaction)
    who_umc = _given(action.who_umc, reaction.who_umc)
    chronology = _given(action.chronology, reaction.chronology)
    semiology = _given(action.semiology, reaction.semiology)
    if (chronology is None) != (semiology is None):
        field = "semiology" if semiology is None else "chronology"
        raise RuleViolation([FieldError(field, "invalid_value", Text("Chronology and semiology go together."))])
    if who_umc is None and chronology is None:
        raise RuleViolation(
            [FieldError("who_umc", "invalid_value", Text("Give a WHO-UMC category, or a chronology and a semiology."))]
        )
    reaction.who_umc, reaction.chronology, reaction.semiology = who_umc, chronology, semiology
    reaction.intrinsic_score = (
        causality.intrinsic_score(chronology, semiology) if chronology is not None and semiology is not None else None
    )


async def _request_follow_up(step: _Step, action: actions.RequestFollowUp) -> None:
    now = utc_now()
    today = now.astimezone(step.context.settings.zone).date()
    if action.reply_by is not None and action.reply_by < today:
        raise RuleViolation([FieldError("reply_by", "invalid_value", Text("The reply date is in the past."))])
    step.session.add(
        FollowUpRequest(
            case_id=step.case.id,
            at=now,
            actor=step.caller.rpps,
            message=action.message,
            reply_by=action.reply_by or today + timedelta(days=FOLLOW_UP_REPLY_DAYS),
            answered_version=None,
        )
    )


async def _mark_duplicate(step: _Step, action: actions.MarkDuplicate) -> None:
    if action.master == step.case.id:
        raise RuleViolation([FieldError("master", "invalid_value", Text("A case cannot duplicate itself."))])
    master = await step.session.get(Case, action.master)
    if master is None or master.state in ("nullified", "duplicate"):
        raise RuleViolation([FieldError("master", "unknown_reference", Text("No such master case."))])
    step.case.duplicate_of = master.id


async def _close(step: _Step, action: actions.Close) -> None:
    # A duplicate goes with its master, which is forwarded in its stead.
    if step.case.serious and step.case.forwarded_at is None and step.case.state != "duplicate":
        raise NotForwarded()


async def _start(step: _Step, action: actions.Start) -> None:
    return None


async def _forward(step: _Step, action: actions.Forward) -> None:
    step.case.forwarded_at = utc_now()
    step.case.forward_destination = action.destination
    step.case.forward_reference = action.reference


async def _nullify(step: _Step, action: actions.Nullify) -> None:
    if not action.reason.strip():
        raise RuleViolation([FieldError("reason", "invalid_value", Text("Nullification needs a reason."))])
    step.case.nullification_reason = action.reason.strip()


_HANDLERS: dict[type[Any], Callable[[_Step, Any], Awaitable[None]]] = {
    actions.Assign: _assign,
    actions.Start: _start,
    actions.CodeReaction: _code,
    actions.SetSeriousness: _set_seriousness,
    actions.Assess: _assess,
    actions.RequestFollowUp: _request_follow_up,
    actions.MarkDuplicate: _mark_duplicate,
    actions.Close: _close,
    actions.Forward: _forward,
    actions.Nullify: _nullify,
}


async def apply_action(
    context: ServiceContext, caller: Caller, case_id: int, action: actions.TriageAction, if_match: str | None
) -> tuple[CaseDetail, str]:
    name = action.name
    async with context.database.session() as session, session.begin():
        case = await reachable_case(session, caller, case_id, lock=True)
        check_if_match(case, if_match, required=True)
        if not is_allowed(name, case.state):
            raise StateConflict(
                Text("'{action}' is not allowed while the case is {state}.", {"action": name, "state": case.state})
            )
        step = _Step(session, context, caller, case)
        step.reactions = await cases.reactions_of(session, case.id)
        index = getattr(action, "reaction", None)
        target = step.reactions[index] if index is not None and index < len(step.reactions) else None
        before = _snapshot(case, target)
        # A code, a duplicate, a nullification or a close of a duplicate changes what the digest counts.
        async with recounting(session, [case.id]):
            await _HANDLERS[type(action)](step, action)
            every_assessed = bool(step.reactions) and all(r.who_umc or r.chronology for r in step.reactions)
            case.state = next_state(name, case.state, every_reaction_assessed=every_assessed)
            case.revision += 1
            case.updated_at = utc_now()
        await session.flush()
        changed_before, changed_after = _changes(before, _snapshot(case, target), _asked(action, target))
        await record_audit(
            session,
            actor=caller.rpps,
            action=f"case.{name}",
            entity="case",
            entity_id=str(case.id),
            before=changed_before,
            after=changed_after | _action_details(action),
        )
        return await case_detail(session, case, caller), etag_of(case)


async def case_audit(
    context: ServiceContext, caller: Caller, case_id: int, cursor: str | None, limit: int
) -> Page[AuditItem]:
    async with context.database.read_session() as session:
        case = await reachable_case(session, caller, case_id)
        query = repository.AUDIT_ORDER.query(repository.audit_query(case.id), cursor, limit)
        rows = list(await session.scalars(query))
    return repository.AUDIT_ORDER.page(
        rows,
        limit,
        key=lambda r: [r.id],
        view=lambda r: AuditItem(at=r.at, actor=r.actor, action=r.action, before=r.before, after=r.after),
    )


# --- the queue ----------------------------------------------------------------------------------------

CSV_BATCH = 500
LINE_LISTING_COLUMNS = (
    "case_number", "received", "age", "sex", "product", "dose", "reaction_codes", "onset", "outcome",
    "seriousness", "causality", "state",
)  # fmt: skip


def _queue_item(case: Case, codes: list[str | None], now: Any) -> QueueItem:
    return QueueItem(
        id=case.id,
        case_number=case.case_number,
        state=case.state,  # type: ignore[arg-type]
        priority=case.priority,  # type: ignore[arg-type]
        serious=case.serious,
        expected=case.expected,
        received_at=case.received_at,
        triage_due=case.triage_due,
        forward_due=case.forward_due,
        assignee=case.assignee,
        product=case.product,
        reactions=codes,
        overdue=case.overdue_at(now),
    )


async def queue_page(
    context: ServiceContext, filters: QueueFilters, cursor: str | None, limit: int, with_counts: bool
) -> QueuePage:
    now = utc_now()
    conditions = repository.queue_conditions(filters, now)
    query = repository.QUEUE_ORDER.query(repository.queue_query(conditions), cursor, limit)
    async with context.database.read_session() as session:
        rows = list(await session.scalars(query))
        codes = await repository.reaction_codes(session, [c.id for c in rows[:limit]])
        counts = await repository.queue_counts(session, conditions) if with_counts else None
    page = repository.QUEUE_ORDER.page(
        rows, limit, key=repository.queue_key, view=lambda c: _queue_item(c, codes[c.id], now)
    )
    return QueuePage(items=page.items, next_cursor=page.next_cursor, counts=counts)


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


def _csv(rows: list[list[str]] | list[tuple[str, ...]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


async def line_listing(context: ServiceContext, filters: QueueFilters) -> AsyncIterator[bytes]:
    """The queue as a CIOMS II-style line listing, streamed in keyset batches."""
    conditions = repository.queue_conditions(filters, utc_now())
    yield _csv([LINE_LISTING_COLUMNS])
    cursor: str | None = None
    while True:
        query = repository.QUEUE_ORDER.query(repository.line_listing_query(conditions), cursor, CSV_BATCH)
        async with context.database.read_session() as session:
            rows = list(await session.execute(query))
            reactions = await repository.reactions_by_case(session, [case.id for case, _ in rows[:CSV_BATCH]])
        page = repository.QUEUE_ORDER.page(
            rows, CSV_BATCH, key=lambda row: repository.queue_key(row[0]), view=lambda row: row
        )
        if page.items:
            yield _csv([_line(case, patient, reactions[case.id]) for case, patient in page.items])
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
