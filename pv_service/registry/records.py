"""Registry records: the NDJSON import lines of SPEC §12 and the API bodies derived from them.

An API body is the import record without ``type`` and without the ids its path carries; the import
record adds those ids. Ranges checked here are shape errors (400 on the API, a line error on import).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec

Rpps = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{11}$", description="RPPS: 11 digits, Luhn key")]
RegistryId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
RecordId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
ShortText = Annotated[str, msgspec.Meta(max_length=500)]
DailyDoseMg = Annotated[float, msgspec.Meta(ge=0, le=1000)]
BirthYear = Annotated[int, msgspec.Meta(ge=1900, le=2100)]
Quantity = Annotated[float, msgspec.Meta(gt=0, le=100_000)]
Days = Annotated[int, msgspec.Meta(ge=1, le=366)]
ConsultationMonth = Literal[1, 3, 6, 12, 18, 24, 30]
ProfessionalRole = Literal["prescriber", "pharmacist"]
Sex = Literal["F", "M", "U"]
LegalStatus = Literal["adult", "minor", "protected_adult"]
ConsultationKind = Literal["complex", "simple"]


class _Record(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    pass


class _ImportRecord(_Record, tag_field="type"):
    pass


# --- API bodies ---------------------------------------------------------------------------------


class PrescriptionBody(_Record, kw_only=True):
    id: RecordId | None = None
    prescriber: Rpps | None = None
    product: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    daily_thc_mg: DailyDoseMg
    daily_cbd_mg: DailyDoseMg
    start_date: date
    days: Days
    secure: bool | None = None
    weaning: bool = False


class DispensationBody(_Record, kw_only=True):
    id: RecordId | None = None
    prescription_id: RecordId
    pharmacist: Rpps | None = None
    date: date
    quantity: Quantity
    days_supply: Days
    weaning: bool = False


class TitrationStepBody(_Record, kw_only=True):
    date: date
    daily_thc_mg: DailyDoseMg
    daily_cbd_mg: DailyDoseMg


class ConsultationBody(_Record, kw_only=True):
    date: date
    kind: ConsultationKind
    month: ConsultationMonth | None = None


class WithdrawalBody(_Record, kw_only=True):
    date: date
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


# --- import records -----------------------------------------------------------------------------


class ProfessionalRecord(_ImportRecord, tag="professional", kw_only=True):
    rpps: Rpps
    role: ProfessionalRole
    name: Name
    structure: ShortText | None = None


class PatientRecord(_ImportRecord, tag="patient", kw_only=True):
    registry_id: RegistryId
    birth_year: BirthYear
    sex: Sex
    indication: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    inclusion_date: date
    reference_prescriber: Rpps
    reference_structure: ShortText | None = None
    city_doctor: Rpps | None = None
    pharmacist: Rpps | None = None
    registry_consent: bool
    nir_consent: bool = False
    legal_status: LegalStatus = "adult"


class PrescriptionRecord(PrescriptionBody, _ImportRecord, tag="prescription", kw_only=True):
    id: RecordId
    registry_id: RegistryId
    prescriber: Rpps


class DispensationRecord(DispensationBody, _ImportRecord, tag="dispensation", kw_only=True):
    id: RecordId
    pharmacist: Rpps


class TitrationStepRecord(TitrationStepBody, _ImportRecord, tag="titration_step", kw_only=True):
    registry_id: RegistryId


class ConsultationRecord(ConsultationBody, _ImportRecord, tag="consultation", kw_only=True):
    registry_id: RegistryId


class WithdrawalRecord(WithdrawalBody, _ImportRecord, tag="withdrawal", kw_only=True):
    registry_id: RegistryId


ImportRecord = (
    ProfessionalRecord
    | PatientRecord
    | PrescriptionRecord
    | DispensationRecord
    | TitrationStepRecord
    | ConsultationRecord
    | WithdrawalRecord
)
