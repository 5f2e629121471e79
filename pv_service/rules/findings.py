"""What the cross-checks and reminders find: every anomaly kind, declared once, and the finding itself."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal, get_args

DoseKind = Literal[
    "secure_supply_over_28_days",
    "supply_outside_prescription",
    "quantity_above_prescribed",
    "early_refill",
    "reported_dose_mismatch",
    "late_presentation",
    "overlapping_prescriptions",
    "multiple_pharmacies",
]
TitrationKind = Literal[
    "titration_start_too_high",
    "titration_increment_too_large",
    "titration_increase_too_soon",
    "titration_above_max_dose",
    "temporal_association",
    "positive_dechallenge",
    "positive_rechallenge",
]
ReminderKind = Literal["consultation_missed", "follow_up_overdue", "triage_overdue"]
AnomalyKind = Literal[DoseKind, TitrationKind, ReminderKind]

DOSE_KINDS: frozenset[str] = frozenset(get_args(DoseKind))
TITRATION_KINDS: frozenset[str] = frozenset(get_args(TitrationKind))
ANOMALY_KINDS: tuple[str, ...] = (*get_args(DoseKind), *get_args(TitrationKind), *get_args(ReminderKind))


@dataclass(frozen=True, slots=True)
class Finding:
    kind: AnomalyKind
    patient_id: int
    records: tuple[str, ...]
    cases: tuple[int, ...]
    detail: dict[str, object]

    @property
    def key(self) -> str:
        """sha256 (64 hex digits) of kind, patient, sorted records and sorted cases; detail is not part of it."""
        canonical = json.dumps(
            [self.kind, self.patient_id, sorted(self.records), sorted(self.cases)],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
