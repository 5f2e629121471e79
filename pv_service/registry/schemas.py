"""The registry's msgspec Structs: the NDJSON import lines of SPEC §12, the API bodies derived from them,
and what the API answers.

An API body is the import record without ``type`` and without the ids its path carries; the import
record adds those ids. Ranges checked here are shape errors (400 on the API, a line error on import).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

import msgspec

from pv_service.storage.models import Patient

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


# --- import report ------------------------------------------------------------------------------


class ImportLineError(msgspec.Struct, frozen=True):
    line: int
    field: str
    code: str
    message: str


class ImportReport(msgspec.Struct):
    total: int = 0
    accepted: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[ImportLineError] = msgspec.field(default_factory=list)


# --- views: the mirror's records as clients see them, built from stored rows by field name -------


class WithdrawalView(msgspec.Struct, frozen=True, kw_only=True):
    registry_id: str
    date: date
    reason: str


class PrescriptionView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    registry_id: str
    prescriber: str
    product: str
    daily_thc_mg: float
    daily_cbd_mg: float
    start_date: date
    days: int
    secure: bool
    weaning: bool


class DispensationView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    prescription_id: str
    registry_id: str
    pharmacist: str
    date: date
    quantity: float
    days_supply: int
    weaning: bool


class TitrationStepView(msgspec.Struct, frozen=True, kw_only=True):
    registry_id: str
    date: date
    daily_thc_mg: float
    daily_cbd_mg: float


class ConsultationView(msgspec.Struct, frozen=True, kw_only=True):
    registry_id: str
    date: date
    kind: str
    month: int | None


class PatientView(msgspec.Struct, frozen=True, kw_only=True):
    registry_id: str
    birth_year: int | None
    sex: str
    indication: str
    reference_structure: str | None
    inclusion_date: date
    reference_prescriber: str
    city_doctor: str | None
    pharmacist: str | None
    registry_consent: bool
    nir_consent: bool
    legal_status: str
    status: Literal["active", "withdrawn"]
    withdrawal: WithdrawalView | None


class PatientDetail(PatientView, frozen=True, kw_only=True):
    prescriptions: list[PrescriptionView]
    dispensations: list[DispensationView]
    titration_steps: list[TitrationStepView]
    consultations: list[ConsultationView]


V = TypeVar("V", bound=msgspec.Struct)


def record_view(view: type[V], row: Mapping[str, Any], registry_id: str) -> V:
    """A stored row of a patient's record as its view: the row's columns by name, and the patient's registry id."""
    return msgspec.convert({**row, "registry_id": registry_id}, view)


def _patient_fields(patient: Patient) -> dict[str, Any]:
    withdrawal = patient.withdrawal
    return {
        "registry_id": patient.registry_id,
        "birth_year": patient.birth_year,
        "sex": patient.sex,
        "indication": patient.indication,
        "reference_structure": patient.reference_structure,
        "inclusion_date": patient.inclusion_date,
        "reference_prescriber": patient.reference_prescriber,
        "city_doctor": patient.city_doctor,
        "pharmacist": patient.pharmacist,
        "registry_consent": patient.registry_consent,
        "nir_consent": patient.nir_consent,
        "legal_status": patient.legal_status,
        "status": "withdrawn" if withdrawal else "active",
        "withdrawal": (
            WithdrawalView(registry_id=patient.registry_id, date=withdrawal.date, reason=withdrawal.reason)
            if withdrawal
            else None
        ),
    }


def patient_view(patient: Patient) -> PatientView:
    return PatientView(**_patient_fields(patient))


def patient_detail(
    patient: Patient,
    *,
    prescriptions: list[PrescriptionView],
    dispensations: list[DispensationView],
    titration_steps: list[TitrationStepView],
    consultations: list[ConsultationView],
) -> PatientDetail:
    return PatientDetail(
        **_patient_fields(patient),
        prescriptions=prescriptions,
        dispensations=dispensations,
        titration_steps=titration_steps,
        consultations=consultations,
    )


class PatientFacts(NamedTuple):
    """What intake judges a report with of the patient's record, read as one row (no ORM object)."""

    id: int
    registry_id: str
    sex: str
    birth_year: int | None
    inclusion_date: date
    legal_status: str

    @classmethod
    def of(cls, patient: Patient) -> PatientFacts:
        return cls(*(getattr(patient, name) for name in cls._fields))
