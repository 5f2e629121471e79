"""What the report endpoints answer (SPEC §12, §13, §14)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec

from pv_service.jobs.anomalies import AnomalyView


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


class CaseSummary(msgspec.Struct, kw_only=True):
    """The answer to intake and follow-ups; the case page adds to it."""

    id: int
    case_number: str
    version: int
    state: str
    patient: str
    product: str
    received_at: datetime
    serious: bool
    seriousness: SeriousnessView
    suggested_criteria: list[str]
    expected: bool
    priority: str
    triage_due: datetime
    forward_due: datetime
    overdue: bool
    completeness: float
    missing: list[str]
    warnings: list[CaseWarning]
    possible_duplicates: list[CaseRef]
    special_situations: list[str]
    reactions: list[CaseReactionView]


class CaseDetail(CaseSummary, kw_only=True):
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


class CaseListItem(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    case_number: str
    version: int
    state: str
    patient: str
    product: str
    received_at: datetime
    serious: bool
    priority: str


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
