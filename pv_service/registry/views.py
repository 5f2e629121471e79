"""What the registry API answers: the mirror's records as clients see them."""

from __future__ import annotations

from datetime import date
from typing import Literal

import msgspec

from pv_service.storage.models import (
    Consultation,
    Dispensation,
    Patient,
    Prescription,
    TitrationStep,
    Withdrawal,
)


class WithdrawalView(msgspec.Struct, frozen=True):
    registry_id: str
    date: date
    reason: str


class PrescriptionView(msgspec.Struct, frozen=True):
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


class DispensationView(msgspec.Struct, frozen=True):
    id: str
    prescription_id: str
    registry_id: str
    pharmacist: str
    date: date
    quantity: float
    days_supply: int
    weaning: bool


class TitrationStepView(msgspec.Struct, frozen=True):
    registry_id: str
    date: date
    daily_thc_mg: float
    daily_cbd_mg: float


class ConsultationView(msgspec.Struct, frozen=True):
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


def withdrawal_view(row: Withdrawal, registry_id: str) -> WithdrawalView:
    return WithdrawalView(registry_id=registry_id, date=row.date, reason=row.reason)


def _patient_fields(patient: Patient) -> dict[str, object]:
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
        "withdrawal": withdrawal_view(withdrawal, patient.registry_id) if withdrawal else None,
    }


def patient_view(patient: Patient) -> PatientView:
    return PatientView(**_patient_fields(patient))  # type: ignore[arg-type]


def prescription_view(row: Prescription, registry_id: str) -> PrescriptionView:
    return PrescriptionView(
        id=row.id,
        registry_id=registry_id,
        prescriber=row.prescriber,
        product=row.product,
        daily_thc_mg=row.daily_thc_mg,
        daily_cbd_mg=row.daily_cbd_mg,
        start_date=row.start_date,
        days=row.days,
        secure=row.secure,
        weaning=row.weaning,
    )


def dispensation_view(row: Dispensation, registry_id: str) -> DispensationView:
    return DispensationView(
        id=row.id,
        prescription_id=row.prescription_id,
        registry_id=registry_id,
        pharmacist=row.pharmacist,
        date=row.date,
        quantity=row.quantity,
        days_supply=row.days_supply,
        weaning=row.weaning,
    )


def titration_step_view(row: TitrationStep, registry_id: str) -> TitrationStepView:
    return TitrationStepView(
        registry_id=registry_id, date=row.date, daily_thc_mg=row.daily_thc_mg, daily_cbd_mg=row.daily_cbd_mg
    )


def consultation_view(row: Consultation, registry_id: str) -> ConsultationView:
    return ConsultationView(registry_id=registry_id, date=row.date, kind=row.kind, month=row.month)


def patient_detail(
    patient: Patient,
    prescriptions: list[Prescription],
    dispensations: list[Dispensation],
    steps: list[TitrationStep],
    consultations: list[Consultation],
) -> PatientDetail:
    rid = patient.registry_id
    return PatientDetail(
        **_patient_fields(patient),  # type: ignore[arg-type]
        prescriptions=[prescription_view(r, rid) for r in prescriptions],
        dispensations=[dispensation_view(r, rid) for r in dispensations],
        titration_steps=[titration_step_view(r, rid) for r in steps],
        consultations=[consultation_view(r, rid) for r in consultations],
    )
