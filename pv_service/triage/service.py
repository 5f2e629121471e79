"""Triage actions on a case (SPEC §5, §13, §14): one transaction each, checked for staleness, audited.

Order of refusals: 404 (case unknown), 428 (no If-Match) / 412 (stale), 409 (not allowed in this
state), 422 (the action's own rules). The row is locked before the ETag is compared, so of two
actions sent with the same ETag exactly one wins and the other gets 412.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.audit import record_audit
from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.errors import conflict, rule_violation
from pv_service.pagination import Page, decode_cursor, encode_cursor
from pv_service.reports import views
from pv_service.reports.assessment import reported_criteria
from pv_service.reports.service import (
    case_detail,
    check_if_match,
    current_reactions,
    etag_of,
    latest_body,
    reachable_case,
    reassess,
)
from pv_service.rules import causality
from pv_service.rules.field_error import FieldError
from pv_service.rules.seriousness import CRITERIA, reaction_criteria
from pv_service.rules.workflow import is_allowed, next_state
from pv_service.storage.models import AuditEntry, Case, CaseReaction, FollowUpRequest, User
from pv_service.triage import actions
from pv_service.users import Caller

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


def _changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    changed = [name for name in after if before.get(name) != after[name]]
    return {name: before.get(name) for name in changed}, {name: after[name] for name in changed}


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
            raise rule_violation(
                [FieldError("reaction", "invalid_value", f"The case has {len(self.reactions)} reaction(s).")]
            )
        return self.reactions[index]


async def _assign(step: _Step, action: actions.Assign) -> None:
    user = await step.session.get(User, action.assignee)
    if user is None or user.role != "pv_staff":
        raise rule_violation([FieldError("assignee", "unknown_reference", "No PV staff member with this RPPS.")])
    step.case.assignee = action.assignee


async def _code(step: _Step, action: actions.CodeReaction) -> None:
    reaction = step.reaction(action.reaction)
    if action.code not in step.context.reference.reactions:
        raise rule_violation([FieldError("code", "unknown_reaction_code", "Not a term of the vocabulary.")])
    reaction.code = action.code
    await reassess(step.session, step.context, step.case)


async def _set_seriousness(step: _Step, action: actions.SetSeriousness) -> None:
    reaction = step.reaction(action.reaction)
    body = await latest_body(step.session, step.case)
    reported = reaction_criteria(reported_criteria(body.reactions[action.reaction]), None) if body.reactions else ()
    chosen = [name for name in CRITERIA if getattr(action.seriousness, name)]
    removed = [name for name in reported if name not in chosen]
    if removed and not (action.reason and action.reason.strip()):
        raise rule_violation(
            [FieldError("reason", "invalid_value", f"Removing the reporter's {', '.join(removed)} needs a reason.")]
        )
    reaction.staff_criteria = chosen
    await reassess(step.session, step.context, step.case)


async def _assess(step: _Step, action: actions.Assess) -> None:
    reaction = step.reaction(action.reaction)
    if (action.chronology is None) != (action.semiology is None):
        field = "semiology" if action.semiology is None else "chronology"
        raise rule_violation([FieldError(field, "invalid_value", "Chronology and semiology go together.")])
    if action.who_umc is None and action.chronology is None:
        raise rule_violation(
            [FieldError("who_umc", "invalid_value", "Give a WHO-UMC category, or a chronology and a semiology.")]
        )
    reaction.who_umc = action.who_umc
    reaction.chronology = action.chronology
    reaction.semiology = action.semiology
    reaction.intrinsic_score = (
        causality.intrinsic_score(action.chronology, action.semiology)
        if action.chronology is not None and action.semiology is not None
        else None
    )


async def _request_follow_up(step: _Step, action: actions.RequestFollowUp) -> None:
    now = utc_now()
    today = now.astimezone(step.context.settings.zone).date()
    if action.reply_by is not None and action.reply_by < today:
        raise rule_violation([FieldError("reply_by", "invalid_value", "The reply date is in the past.")])
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
        raise rule_violation([FieldError("master", "invalid_value", "A case cannot duplicate itself.")])
    master = await step.session.get(Case, action.master)
    if master is None or master.state in ("nullified", "duplicate"):
        raise rule_violation([FieldError("master", "unknown_reference", "No such master case.")])
    step.case.duplicate_of = master.id


async def _close(step: _Step, action: actions.Close) -> None:
    return None


async def _start(step: _Step, action: actions.Start) -> None:
    return None


async def _forward(step: _Step, action: actions.Forward) -> None:
    step.case.forwarded_at = utc_now()
    step.case.forward_destination = action.destination
    step.case.forward_reference = action.reference


async def _nullify(step: _Step, action: actions.Nullify) -> None:
    if not action.reason.strip():
        raise rule_violation([FieldError("reason", "invalid_value", "Nullification needs a reason.")])
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


def _action_name(action: actions.TriageAction) -> str:
    return str(type(action).__struct_config__.tag)


async def apply_action(
    context: ServiceContext, caller: Caller, case_id: int, action: actions.TriageAction, if_match: str | None
) -> tuple[views.CaseDetail, str]:
    name = _action_name(action)
    async with context.database.session() as session, session.begin():
        case = await reachable_case(session, caller, case_id, lock=True)
        check_if_match(case, if_match, required=True)
        if not is_allowed(name, case.state):
            raise conflict(f"'{name}' is not allowed while the case is {case.state}.")
        step = _Step(session, context, caller, case)
        step.reactions = await current_reactions(session, case.id)
        index = getattr(action, "reaction", None)
        target = step.reactions[index] if index is not None and index < len(step.reactions) else None
        before = _snapshot(case, target)
        await _HANDLERS[type(action)](step, action)
        every_assessed = bool(step.reactions) and all(r.who_umc or r.chronology for r in step.reactions)
        case.state = next_state(name, case.state, every_reaction_assessed=every_assessed)
        case.revision += 1
        case.updated_at = utc_now()
        await session.flush()
        changed_before, changed_after = _changes(before, _snapshot(case, target))
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


class AuditItem(msgspec.Struct, frozen=True):
    at: datetime
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


async def case_audit(
    context: ServiceContext, caller: Caller, case_id: int, cursor: str | None, limit: int
) -> Page[AuditItem]:
    async with context.database.read_session() as session:
        case = await reachable_case(session, caller, case_id)
        query = select(AuditEntry).where(AuditEntry.entity == "case", AuditEntry.entity_id == str(case.id))
        if cursor:
            (after,) = decode_cursor(cursor, (int,))
            query = query.where(AuditEntry.id > after)
        rows = list(await session.scalars(query.order_by(AuditEntry.id).limit(limit + 1)))
    items = [AuditItem(at=r.at, actor=r.actor, action=r.action, before=r.before, after=r.after) for r in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None)
