"""What the jobs API answers and takes (SPEC §6, §14): jobs, runs, anomalies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from pv_service.jobs.periods import PeriodKind
from pv_service.rules.findings import AnomalyKind


class RunView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    job: str
    period: str
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    error: str | None
    # True when the period had already been run: this is that run, not a new one (force runs it again).
    already_done: bool = False


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    period: PeriodKind
    schedule: dict[str, Any]
    next_run_at: datetime | None
    last_run: RunView | None


class RunRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    period: str | None = None
    force: bool = False


class JobList(msgspec.Struct, frozen=True):
    items: list[JobView]
    next_cursor: str | None = None


class AnomalyView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: AnomalyKind
    patient: str
    records: list[str]
    cases: list[int]
    detail: dict[str, Any]
    first_seen: datetime
