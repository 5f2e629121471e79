"""What the report endpoints answer (SPEC §12, §13, §14), and how a stored case becomes that answer.

The body a reporter sends is ``pv_service.rules.report_body.ReportBody``: the rules check it as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import msgspec

from pv_service.jobs.schemas import AnomalyView
from pv_service.registry.schemas import PatientFacts
from pv_service.rules.causality import BEGAUD_1985
from pv_service.rules.priority import Priority
from pv_service.rules.report_body import ReportBody
from pv_service.rules.workflow import CaseState, Destination, suggested_destinations
from pv_service.storage.models import Case, CaseReaction, FollowUpRequest
from pv_service.users.schemas import Caller


@dataclass(frozen=True, slots=True)
class CaseAnswer:
    """An encoded case and its ETag, as stored for idempotent replays."""

    body: bytes
    etag: str


class CaseWarning(msgspec.Struct, frozen=True):
    field: str
    code: str
    message: str


class SeriousnessView(msgspec.Struct, frozen=True):
    case: list[str]
    reactions: list[list[str]]


class CaseRef(msgspec.Struct, frozen=True):
    id: int
    case_number: str


class CaseReactionView(msgspec.Struct, frozen=True):
    text: str | None
    code: str | None
    onset_date: date | None
    outcome: str | None
    criteria: list[str]
    expected: bool
    causality: Causality | None = None


class VersionRef(msgspec.Struct, frozen=True):
    version: int
    received_at: datetime


class CaseListItem(msgspec.Struct, frozen=True, kw_only=True):
    """A case in a list: what tells it from the others."""

    id: int
    case_number: str
    version: int
    state: CaseState
    patient: str
    product: str
    received_at: datetime
    serious: bool
    priority: Priority


class CaseSummary(CaseListItem, frozen=True, kw_only=True):
    """The answer to intake and follow-ups; the case page adds to it."""

    seriousness: SeriousnessView
    suggested_criteria: list[str]
    expected: bool
    triage_due: datetime
    forward_due: datetime
    overdue: bool
    completeness: float
    missing: list[str]
    warnings: list[CaseWarning]
    possible_duplicates: list[CaseRef]
    special_situations: list[str]
    suggested_destinations: list[Destination]
    reactions: list[CaseReactionView]


class CaseDetail(CaseSummary, frozen=True, kw_only=True):
    report: dict[str, Any]
    versions: list[VersionRef]
    findings: list[AnomalyView]
    follow_up_requests: list[FollowUpRequestView]
    assignee: str | None = None
    forwarded_at: datetime | None = None
    duplicate_of: int | None = None
    nullification_reason: str | None = None


class VersionDetail(msgspec.Struct, frozen=True):
    version: int
    received_at: datetime
    reporter: str
    report: dict[str, Any]


class Causality(msgspec.Struct, frozen=True):
    method: str
    who_umc: str | None
    chronology: str | None
    semiology: str | None
    intrinsic_score: str | None


class FollowUpRequestView(msgspec.Struct, frozen=True):
    at: datetime
    message: str
    reply_by: date
    answered_version: int | None


def etag_of(case: Case) -> str:
    return f'"{case.id}.{case.revision}"'


def reaction_view(row: CaseReaction) -> CaseReactionView:
    causality = None
    if row.who_umc is not None or row.chronology is not None:
        causality = Causality(
            method=BEGAUD_1985 if row.chronology is not None else "who_umc",
            who_umc=row.who_umc,
            chronology=row.chronology,
            semiology=row.semiology,
            intrinsic_score=row.intrinsic_score,
        )
    return CaseReactionView(
        text=row.text,
        code=row.code,
        onset_date=row.onset_date,
        outcome=row.outcome,
        criteria=row.criteria,
        expected=row.expected,
        causality=causality,
    )


@dataclass(frozen=True)
class AcceptedReport:
    """A valid report on a patient within reach, waiting for its write transaction (which assesses it)."""

    caller: Caller
    body: ReportBody
    idempotency_key: str | None
    patient: PatientFacts
    received_at: datetime


def case_summary(
    case: Case, registry_id: str, reactions: Sequence[CaseReaction], linked: Sequence[tuple[int, str]], now: datetime
) -> CaseSummary:
    return CaseSummary(
        **msgspec.structs.asdict(case_list_item(case, registry_id)),
        seriousness=SeriousnessView(case=case.criteria, reactions=[r.criteria for r in reactions]),
        suggested_criteria=case.suggested_criteria,
        expected=case.expected,
        triage_due=case.triage_due,
        forward_due=case.forward_due,
        overdue=case.overdue_at(now),
        completeness=case.completeness,
        missing=case.missing,
        warnings=msgspec.convert(case.warnings, list[CaseWarning]),
        possible_duplicates=[CaseRef(id=i, case_number=n) for i, n in linked],
        special_situations=case.special_situations,
        suggested_destinations=suggested_destinations(case.special_situations),
        reactions=[reaction_view(r) for r in reactions],
    )


def follow_up_request_view(row: FollowUpRequest) -> FollowUpRequestView:
    return FollowUpRequestView(
        at=row.at, message=row.message, reply_by=row.reply_by, answered_version=row.answered_version
    )


def case_list_item(case: Case, registry_id: str) -> CaseListItem:
    return CaseListItem(
        id=case.id,
        case_number=case.case_number,
        version=case.version,
        state=case.state,  # type: ignore[arg-type]
        patient=registry_id,
        product=case.product,
        received_at=case.received_at,
        serious=case.serious,
        priority=case.priority,  # type: ignore[arg-type]
    )


class ReportablePatient(msgspec.Struct, frozen=True, kw_only=True):
    """A patient within a reporter's reach, as the reporting-aid form lists them to choose from."""

    registry_id: str
    inclusion_date: date
    indication: str
    withdrawn_on: date | None
    # The product of the patient's latest prescription, if any.
    product: str | None


class CaseNotes(msgspec.Struct, frozen=True, kw_only=True):
    """What a reporter's list of cases shows beside each: the recommended fields still missing and the
    follow-up requests PV staff sent that no version has answered yet."""

    missing: list[str]
    open_requests: list[FollowUpRequestView]
