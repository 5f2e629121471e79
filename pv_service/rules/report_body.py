"""The adverse-event report as a client sends it (SPEC §3, §12): intake and follow-ups share this body.

Types, enums, unknown fields, lengths and numeric ranges are the shape stage (400). The four elements of
a valid case are optional here on purpose: their absence is a validity error (422), reported with the
others at once.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec

Outcome = Literal["recovered", "recovering", "not_recovered", "recovered_with_sequelae", "fatal", "unknown"]
Severity = Literal["mild", "moderate", "severe"]
ActionTaken = Literal["withdrawn", "dose_reduced", "dose_increased", "dose_unchanged", "unknown", "not_applicable"]
ChallengeResult = Literal["positive", "negative", "not_applicable", "unknown"]
Profession = Literal["physician", "pharmacist"]
SpecialSituation = Literal[
    "overdose",
    "misuse",
    "abuse",
    "dependence",
    "medication_error",
    "pregnancy_exposure",
    "breastfeeding_exposure",
    "lack_of_efficacy",
]
DailyDoseMg = Annotated[float, msgspec.Meta(ge=0, le=1000)]
WeightKg = Annotated[float, msgspec.Meta(ge=0.3, le=400)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
FreeText = Annotated[str, msgspec.Meta(max_length=2000)]
LongText = Annotated[str, msgspec.Meta(max_length=20000)]


class _Part(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    pass


class ReportPatient(_Part, kw_only=True):
    registry_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    weight_kg: WeightKg | None = None
    pregnant: bool | None = None


class Reporter(_Part, kw_only=True):
    profession: Profession | None = None


class SuspectProduct(_Part, kw_only=True):
    code: Code | None = None
    daily_thc_mg: DailyDoseMg | None = None
    daily_cbd_mg: DailyDoseMg | None = None
    start_date: date | None = None
    batch: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class Seriousness(_Part, kw_only=True):
    """The six ICH E2A criteria."""

    death: bool = False
    life_threatening: bool = False
    hospitalisation: bool = False
    disability: bool = False
    congenital_anomaly: bool = False
    medically_important: bool = False


class ReportedReaction(_Part, kw_only=True):
    text: FreeText | None = None
    code: Code | None = None
    onset_date: date | None = None
    end_date: date | None = None
    outcome: Outcome | None = None
    severity: Severity | None = None
    seriousness: Seriousness | None = None


class ReportBody(_Part, kw_only=True):
    patient: ReportPatient | None = None
    reporter: Reporter | None = None
    suspect_product: SuspectProduct | None = None
    reactions: Annotated[list[ReportedReaction], msgspec.Meta(max_length=50)] | None = None
    action_taken: ActionTaken | None = None
    dechallenge: ChallengeResult | None = None
    rechallenge: ChallengeResult | None = None
    date_of_death: date | None = None
    concomitant_medicines: Annotated[list[FreeText], msgspec.Meta(max_length=50)] = []
    history: LongText | None = None
    narrative: LongText | None = None
    special_situations: Annotated[list[SpecialSituation], msgspec.Meta(max_length=8)] = []

    @property
    def product_code(self) -> str | None:
        """The suspect product's code as reported (None without a suspect product)."""
        return self.suspect_product.code if self.suspect_product else None
