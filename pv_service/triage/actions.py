"""The triage actions PV staff send to ``POST /api/v1/reports/{id}/actions`` (SPEC §5, §13, §14)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec

from pv_service.registry.records import Rpps
from pv_service.reports.body import Seriousness

ReactionIndex = Annotated[int, msgspec.Meta(ge=0, le=49)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]
WhoUmc = Literal["certain", "probable", "possible", "unlikely", "conditional", "unassessable"]
Chronology = Literal["C0", "C1", "C2", "C3"]
Semiology = Literal["S1", "S2", "S3"]


class _Action(msgspec.Struct, tag_field="action", forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


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
    reaction: ReactionIndex
    who_umc: WhoUmc | None = None
    chronology: Chronology | None = None
    semiology: Semiology | None = None


class RequestFollowUp(_Action, tag="request_follow_up", kw_only=True):
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    reply_by: date | None = None


class MarkDuplicate(_Action, tag="mark_duplicate", kw_only=True):
    master: int


class Close(_Action, tag="close", kw_only=True):
    reason: Reason | None = None


class Forward(_Action, tag="forward", kw_only=True):
    destination: Literal["crpv", "ansm"]
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
