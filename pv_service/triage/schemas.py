"""What triage takes and answers (SPEC §5, §13, §14): the actions PV staff send to
``POST /api/v1/reports/{id}/actions``, the queue's filters, items and counts, the audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from pv_service.pagination import MAX_KEY
from pv_service.registry.schemas import Rpps
from pv_service.rules.causality import Chronology, Semiology, WhoUmc
from pv_service.rules.priority import Priority
from pv_service.rules.report_body import Seriousness
from pv_service.rules.workflow import CaseState, Destination, TriageActionName

ReactionIndex = Annotated[int, msgspec.Meta(ge=0, le=49)]
CaseId = Annotated[int, msgspec.Meta(ge=1, le=MAX_KEY)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]


class _Action(msgspec.Struct, tag_field="action", forbid_unknown_fields=True, frozen=True, kw_only=True):
    @property
    def name(self) -> TriageActionName:
        return type(self).__struct_config__.tag  # type: ignore[return-value]


class Assign(_Action, tag="assign", kw_only=True):
    assignee: Rpps


class Start(_Action, tag="start", kw_only=True):
    pass


class CodeReaction(_Action, tag="code", kw_only=True):
    reaction: ReactionIndex
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class SetSeriousness(_Action, tag="set_seriousness", kw_only=True):
    reaction: ReactionIndex
    seriousness: Seriousness
    reason: Reason | None = None


class Assess(_Action, tag="assess", kw_only=True):
    """A partial update (SPEC §15): a field left out keeps its value, an explicit null clears it."""

    reaction: ReactionIndex
    who_umc: WhoUmc | UnsetType | None = UNSET
    chronology: Chronology | UnsetType | None = UNSET
    semiology: Semiology | UnsetType | None = UNSET


class RequestFollowUp(_Action, tag="request_follow_up", kw_only=True):
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    reply_by: date | None = None


class MarkDuplicate(_Action, tag="mark_duplicate", kw_only=True):
    master: CaseId


class Close(_Action, tag="close", kw_only=True):
    reason: Reason | None = None


class Forward(_Action, tag="forward", kw_only=True):
    destination: Destination
    reference: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class Nullify(_Action, tag="nullify", kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


TriageAction = (
    Assign
    | Start
    | CodeReaction
    | SetSeriousness
    | Assess
    | RequestFollowUp
    | MarkDuplicate
    | Close
    | Forward
    | Nullify
)


@dataclass(frozen=True)
class QueueFilters:
    states: Sequence[CaseState] = ()
    priorities: Sequence[Priority] = ()
    serious: bool | None = None
    assignee: str | None = None
    products: Sequence[str] = ()
    reactions: Sequence[str] = ()
    overdue: bool | None = None


class QueueItem(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    case_number: str
    state: CaseState
    priority: Priority
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


class QueuePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[QueueItem]
    next_cursor: str | None
    counts: QueueCounts | None = None


class AuditItem(msgspec.Struct, frozen=True):
    at: datetime
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
