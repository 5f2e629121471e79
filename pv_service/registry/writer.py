"""Applies registry records to the mirror, one record at a time, for the API and the bulk import alike.

The writer looks records up through small caches that the import fills in bulk beforehand (one query
per kind and batch instead of one per line) and that the API fills on demand. Every seed rule runs
here, through ``pv_service.rules.registry``, whichever path a record comes by.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import date
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.audit import record_audit_many
from pv_service.clock import utc_now
from pv_service.config import Settings
from pv_service.reference import ReferenceData
from pv_service.registry.records import (
    ConsultationRecord,
    DispensationRecord,
    PatientRecord,
    PrescriptionRecord,
    ProfessionalRecord,
    TitrationStepRecord,
    WithdrawalRecord,
)
from pv_service.rules import registry as rules
from pv_service.rules.field_error import FieldError
from pv_service.rules.rpps import rpps_is_valid
from pv_service.storage.models import (
    Consultation,
    Dispensation,
    Patient,
    Prescription,
    TitrationStep,
    User,
    Withdrawal,
)

# Keeps each IN (...) list well under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 900


class Outcome(Enum):
    ACCEPTED = "accepted"
    UNCHANGED = "unchanged"
    UPDATED = "updated"


class RecordRefused(Exception):
    """A record that breaks a rule (422) or, on the API, changes an existing one (409)."""

    def __init__(self, errors: list[FieldError], status: int = 422) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors
        self.status = status


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


def _audit_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


class RegistryWriter:
    """One unit of work on the mirror; the caller owns the transaction."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        reference: ReferenceData,
        settings: Settings,
        actor: str,
        update_existing: bool,
        audit_new: bool,
    ) -> None:
        self.session = session
        self.reference = reference
        self.settings = settings
        self.actor = actor
        self.update_existing = update_existing
        self.audit_new = audit_new
        self._users: dict[str, User | None] = {}
        self._patients: dict[str, Patient | None] = {}
        self._patients_by_id: dict[int, Patient] = {}
        self._prescriptions: dict[str, Prescription | None] = {}
        self._dispensations: dict[str, Dispensation | None] = {}
        self._steps: dict[int, list[TitrationStep]] = {}
        self._consultations: dict[tuple[int, date, str], Consultation | None] = {}
        self._consultations_loaded: set[int] = set()
        self._audit: list[dict[str, Any]] = []

    # --- bulk prefetch (import) -----------------------------------------------------------------

    async def prefetch_users(self, rpps: Iterable[str]) -> None:
        missing = sorted({r for r in rpps if r not in self._users})
        for chunk in _chunks(missing):
            for user in await self.session.scalars(select(User).where(User.rpps.in_(chunk))):
                self._users[user.rpps] = user
        for r in missing:
            self._users.setdefault(r, None)

    async def prefetch_patients(self, registry_ids: Iterable[str]) -> None:
        missing = sorted({r for r in registry_ids if r not in self._patients})
        for chunk in _chunks(missing):
            for patient in await self.session.scalars(select(Patient).where(Patient.registry_id.in_(chunk))):
                self._remember_patient(patient)
        for r in missing:
            self._patients.setdefault(r, None)

    async def prefetch_prescriptions(self, ids: Iterable[str]) -> None:
        missing = sorted({i for i in ids if i not in self._prescriptions})
        for chunk in _chunks(missing):
            for rx in await self.session.scalars(select(Prescription).where(Prescription.id.in_(chunk))):
                self._prescriptions[rx.id] = rx
        for i in missing:
            self._prescriptions.setdefault(i, None)
        await self._prefetch_patients_by_id({rx.patient_id for rx in self._prescriptions.values() if rx})

    async def prefetch_dispensations(self, ids: Iterable[str]) -> None:
        missing = sorted({i for i in ids if i not in self._dispensations})
        for chunk in _chunks(missing):
            for row in await self.session.scalars(select(Dispensation).where(Dispensation.id.in_(chunk))):
                self._dispensations[row.id] = row
        for i in missing:
            self._dispensations.setdefault(i, None)

    async def prefetch_steps(self, patient_ids: Iterable[int]) -> None:
        missing = sorted({p for p in patient_ids if p not in self._steps})
        for p in missing:
            self._steps[p] = []
        for chunk in _chunks(missing):
            query = select(TitrationStep).where(TitrationStep.patient_id.in_(chunk)).order_by(TitrationStep.date)
            for step in await self.session.scalars(query):
                self._steps[step.patient_id].append(step)

    async def prefetch_consultations(self, patient_ids: Iterable[int]) -> None:
        missing = sorted({p for p in patient_ids if p not in self._consultations_loaded})
        for chunk in _chunks(missing):
            for row in await self.session.scalars(select(Consultation).where(Consultation.patient_id.in_(chunk))):
                self._consultations[(row.patient_id, row.date, row.kind)] = row
        self._consultations_loaded.update(missing)

    async def _prefetch_patients_by_id(self, ids: set[int]) -> None:
        missing = sorted(i for i in ids if i not in self._patients_by_id)
        for chunk in _chunks(missing):
            for patient in await self.session.scalars(select(Patient).where(Patient.id.in_(chunk))):
                self._remember_patient(patient)

    def _remember_patient(self, patient: Patient) -> None:
        self._patients[patient.registry_id] = patient
        self._patients_by_id[patient.id] = patient

    # --- lookups ----------------------------------------------------------------------------------

    async def _user(self, rpps: str) -> User | None:
        if rpps not in self._users:
            await self.prefetch_users([rpps])
        return self._users[rpps]

    async def _patient(self, registry_id: str) -> Patient | None:
        if registry_id not in self._patients:
            await self.prefetch_patients([registry_id])
        return self._patients[registry_id]

    async def _prescription(self, rx_id: str) -> Prescription | None:
        if rx_id not in self._prescriptions:
            await self.prefetch_prescriptions([rx_id])
        return self._prescriptions[rx_id]

    async def _professional_errors(self, field: str, rpps: str | None, role: str) -> list[FieldError]:
        if rpps is None:
            return []
        if not rpps_is_valid(rpps):
            return [FieldError(field, "invalid_value", "An RPPS has 11 digits and a valid Luhn key.")]
        user = await self._user(rpps)
        if user is None or user.role != role:
            return [FieldError(field, "unknown_reference", f"No {role} with RPPS {rpps}.")]
        return []

    async def _known_patient(self, registry_id: str) -> Patient:
        patient = await self._patient(registry_id)
        if patient is None:
            raise RecordRefused([FieldError("registry_id", "unknown_reference", "No such patient.")])
        return patient

    @staticmethod
    def _facts(patient: Patient) -> rules.PatientFacts:
        withdrawal = patient.withdrawal
        return rules.PatientFacts(patient.inclusion_date, withdrawal.date if withdrawal else None)

    # --- storing ------------------------------------------------------------------------------------

    def _store(self, entity: str, key: str, existing: Any, values: dict[str, Any], create: Any) -> Outcome:
        """Insert, leave alone, update (import) or refuse (API) a record by its natural key."""
        if existing is None:
            row = create()
            self.session.add(row)
            if self.audit_new:
                self._audit_entry(f"{entity}.create", entity, key, None, values)
            return Outcome.ACCEPTED
        changed = {name: value for name, value in values.items() if getattr(existing, name) != value}
        if not changed:
            return Outcome.UNCHANGED
        if not self.update_existing:
            raise RecordRefused(
                [
                    FieldError(name, "invalid_value", f"A {entity} with this key already exists with another {name}.")
                    for name in changed
                ],
                status=409,
            )
        before = {name: getattr(existing, name) for name in changed}
        for name, value in changed.items():
            setattr(existing, name, value)
        self._audit_entry(f"{entity}.update", entity, key, before, changed)
        return Outcome.UPDATED

    def _audit_entry(
        self, action: str, entity: str, key: str, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        def plain(values: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if values is None else {k: _audit_value(v) for k, v in values.items()}

        self._audit.append(
            {
                "actor": self.actor,
                "action": action,
                "entity": entity,
                "entity_id": key,
                "before": plain(before),
                "after": plain(after),
            }
        )

    def audit_summary(self, action: str, entity: str, key: str, after: dict[str, Any]) -> None:
        self._audit_entry(action, entity, key, None, after)

    async def flush(self) -> None:
        await self.session.flush()
        await record_audit_many(self.session, self._audit)
        self._audit.clear()

    # --- one method per record type ----------------------------------------------------------------

    async def professional(self, record: ProfessionalRecord) -> Outcome:
        if not rpps_is_valid(record.rpps):
            raise RecordRefused([FieldError("rpps", "invalid_value", "An RPPS has 11 digits and a valid Luhn key.")])
        existing = await self._user(record.rpps)
        values = {"role": record.role, "name": record.name, "structure": record.structure}

        def create() -> User:
            user = User(rpps=record.rpps, created_at=utc_now(), **values)
            self._users[record.rpps] = user
            return user

        return self._store("professional", record.rpps, existing, values, create)

    async def patient(self, record: PatientRecord) -> Outcome:
        errors = [
            *await self._professional_errors("reference_prescriber", record.reference_prescriber, "prescriber"),
            *await self._professional_errors("city_doctor", record.city_doctor, "prescriber"),
            *await self._professional_errors("pharmacist", record.pharmacist, "pharmacist"),
        ]
        if record.indication not in self.reference.indications:
            errors.append(FieldError("indication", "invalid_value", "Not one of the five indications."))
        errors += rules.inclusion_errors(
            record.inclusion_date,
            start=self.settings.experimentation_start,
            cutoff=self.settings.inclusion_cutoff,
        )
        if not record.registry_consent:
            errors.append(FieldError("registry_consent", "invalid_value", "Registry consent is required."))
        if errors:
            raise RecordRefused(errors)
        existing = await self._patient(record.registry_id)
        structure = record.reference_structure
        if structure is None:
            prescriber = await self._user(record.reference_prescriber)
            structure = prescriber.structure if prescriber else None
        values = {
            "birth_year": record.birth_year,
            "sex": record.sex,
            "indication": record.indication,
            "reference_structure": structure,
            "inclusion_date": record.inclusion_date,
            "reference_prescriber": record.reference_prescriber,
            "city_doctor": record.city_doctor,
            "pharmacist": record.pharmacist,
            "registry_consent": record.registry_consent,
            "nir_consent": record.nir_consent,
            "legal_status": record.legal_status,
        }

        def create() -> Patient:
            patient = Patient(registry_id=record.registry_id, birth_year_band=None, withdrawal=None, **values)
            self._patients[record.registry_id] = patient
            return patient

        return self._store("patient", record.registry_id, existing, values, create)

    async def withdrawal(self, record: WithdrawalRecord) -> Outcome:
        patient = await self._known_patient(record.registry_id)
        errors = rules.withdrawal_errors(on=record.date, patient=self._facts(patient))
        if errors:
            raise RecordRefused(errors)
        values = {"date": record.date, "reason": record.reason}

        def create() -> Withdrawal:
            row = Withdrawal(patient_id=patient.id, **values)
            patient.withdrawal = row
            return row

        return self._store("withdrawal", record.registry_id, patient.withdrawal, values, create)

    async def prescription(self, record: PrescriptionRecord) -> Outcome:
        patient = await self._known_patient(record.registry_id)
        product = self.reference.products.get(record.product)
        errors = await self._professional_errors("prescriber", record.prescriber, "prescriber")
        errors += rules.prescription_errors(
            product_thc_percent=product.thc_percent if product else None,
            declared_secure=record.secure,
            period=rules.Period(record.start_date, record.days),
            weaning=record.weaning,
            patient=self._facts(patient),
            experimentation_end=self.settings.experimentation_end,
        )
        if errors or product is None:
            raise RecordRefused(errors)
        existing = await self._prescription(record.id)
        values = {
            "patient_id": patient.id,
            "prescriber": record.prescriber,
            "product": record.product,
            "daily_thc_mg": record.daily_thc_mg,
            "daily_cbd_mg": record.daily_cbd_mg,
            "start_date": record.start_date,
            "days": record.days,
            "secure": rules.requires_secure_prescription(product.thc_percent),
            "weaning": record.weaning,
        }

        def create() -> Prescription:
            row = Prescription(id=record.id, **values)
            self._prescriptions[record.id] = row
            return row

        return self._store("prescription", record.id, existing, values, create)

    async def dispensation(self, record: DispensationRecord) -> Outcome:
        prescription = await self._prescription(record.prescription_id)
        patient = self._patients_by_id.get(prescription.patient_id) if prescription else None
        errors = await self._professional_errors("pharmacist", record.pharmacist, "pharmacist")
        errors += rules.dispensation_errors(
            supply=rules.Period(record.date, record.days_supply),
            weaning=record.weaning,
            prescription=rules.Period(prescription.start_date, prescription.days) if prescription else None,
            patient=self._facts(patient) if patient else None,
            experimentation_end=self.settings.experimentation_end,
        )
        if errors or prescription is None:
            raise RecordRefused(errors)
        if record.id not in self._dispensations:
            await self.prefetch_dispensations([record.id])
        values = {
            "prescription_id": record.prescription_id,
            "patient_id": prescription.patient_id,
            "pharmacist": record.pharmacist,
            "date": record.date,
            "quantity": record.quantity,
            "days_supply": record.days_supply,
            "weaning": record.weaning,
        }

        def create() -> Dispensation:
            row = Dispensation(id=record.id, **values)
            self._dispensations[record.id] = row
            return row

        return self._store("dispensation", record.id, self._dispensations[record.id], values, create)

    async def titration_step(self, record: TitrationStepRecord) -> Outcome:
        patient = await self._known_patient(record.registry_id)
        await self.prefetch_steps([patient.id])
        steps = self._steps[patient.id]
        dates = [s.date for s in steps]
        at = bisect.bisect_left(dates, record.date)
        existing = steps[at] if at < len(steps) and steps[at].date == record.date else None
        previous = steps[at - 1] if at > 0 else None
        dose = rules.DailyDose(record.daily_thc_mg, record.daily_cbd_mg)
        errors = rules.titration_step_errors(
            on=record.date,
            dose=dose,
            previous=rules.DailyDose(previous.daily_thc_mg, previous.daily_cbd_mg) if previous else None,
            patient=self._facts(patient),
        )
        if errors:
            raise RecordRefused(errors)
        values = {"daily_thc_mg": record.daily_thc_mg, "daily_cbd_mg": record.daily_cbd_mg}

        def create() -> TitrationStep:
            row = TitrationStep(patient_id=patient.id, date=record.date, **values)
            steps.insert(at, row)
            return row

        return self._store("titration_step", f"{record.registry_id}/{record.date}", existing, values, create)

    async def consultation(self, record: ConsultationRecord) -> Outcome:
        patient = await self._known_patient(record.registry_id)
        errors = rules.consultation_errors(
            on=record.date, kind=record.kind, month=record.month, patient=self._facts(patient)
        )
        if errors:
            raise RecordRefused(errors)
        await self.prefetch_consultations([patient.id])
        key = (patient.id, record.date, record.kind)
        values = {"month": record.month}

        def create() -> Consultation:
            row = Consultation(patient_id=patient.id, date=record.date, kind=record.kind, **values)
            self._consultations[key] = row
            return row

        label = f"{record.registry_id}/{record.date}/{record.kind}"
        return self._store("consultation", label, self._consultations.get(key), values, create)

    async def patient_ids(self, registry_ids: set[str]) -> list[int]:
        await self.prefetch_patients(registry_ids)
        return [p.id for r in registry_ids if (p := self._patients.get(r)) is not None]
