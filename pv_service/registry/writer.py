"""Applies registry records to the mirror, one record at a time, for the API and the bulk import alike.

The writer works on plain rows (dicts) through SQLAlchemy Core: it looks records up in caches that
the import fills in bulk beforehand (one query per kind and batch, not one per line) and the API fills
on demand, and it inserts new rows in batches. Every seed rule runs here, through
``pv_service.rules.registry``, whichever path a record comes by.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from datetime import date
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, insert, select, update
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

Row = dict[str, Any]

USERS: Table = User.__table__  # type: ignore[assignment]
PATIENTS: Table = Patient.__table__  # type: ignore[assignment]
WITHDRAWALS: Table = Withdrawal.__table__  # type: ignore[assignment]
PRESCRIPTIONS: Table = Prescription.__table__  # type: ignore[assignment]
DISPENSATIONS: Table = Dispensation.__table__  # type: ignore[assignment]
STEPS: Table = TitrationStep.__table__  # type: ignore[assignment]
CONSULTATIONS: Table = Consultation.__table__  # type: ignore[assignment]
# Foreign keys point down this list: new rows are inserted in this order.
INSERT_ORDER = (USERS, PATIENTS, WITHDRAWALS, PRESCRIPTIONS, DISPENSATIONS, STEPS, CONSULTATIONS)

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


def _plain(values: Row | None) -> Row | None:
    return None if values is None else {k: _audit_value(v) for k, v in values.items()}


class RegistryWriter:
    """One unit of work on the mirror; the caller owns the transaction and calls ``flush``."""

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
        self._users: dict[str, Row | None] = {}
        self._patients: dict[str, Row | None] = {}
        self._patients_by_id: dict[int, Row] = {}
        self._withdrawals: dict[int, Row] = {}
        self._prescriptions: dict[str, Row | None] = {}
        self._dispensations: dict[str, Row | None] = {}
        self._steps: dict[int, list[Row]] = {}
        self._consultations: dict[tuple[int, date, str], Row] = {}
        self._consultations_loaded: set[int] = set()
        self._pending: dict[Table, list[Row]] = {table: [] for table in INSERT_ORDER}
        self._pending_ids: set[int] = set()
        self._audit: list[Row] = []

    # --- bulk prefetch (import) -----------------------------------------------------------------

    async def _rows(self, table: Table, column: Any, keys: list[Any]) -> list[Row]:
        rows: list[Row] = []
        for chunk in _chunks(keys):
            result = await self.session.execute(select(table).where(column.in_(chunk)))
            rows.extend(dict(r) for r in result.mappings())
        return rows

    async def prefetch_users(self, rpps: Iterable[str | None]) -> None:
        missing = sorted({r for r in rpps if r and r not in self._users})
        for row in await self._rows(USERS, USERS.c.rpps, missing):
            self._users[row["rpps"]] = row
        for r in missing:
            self._users.setdefault(r, None)

    async def prefetch_patients(self, registry_ids: Iterable[str]) -> None:
        missing = sorted({r for r in registry_ids if r not in self._patients})
        found = await self._rows(PATIENTS, PATIENTS.c.registry_id, missing)
        await self._remember_patients(found)
        for r in missing:
            self._patients.setdefault(r, None)

    async def _prefetch_patients_by_id(self, ids: Iterable[int]) -> None:
        missing = sorted({i for i in ids if i not in self._patients_by_id})
        await self._remember_patients(await self._rows(PATIENTS, PATIENTS.c.id, missing))

    async def _remember_patients(self, patients: list[Row]) -> None:
        for patient in patients:
            self._patients[patient["registry_id"]] = patient
            self._patients_by_id[patient["id"]] = patient
        for withdrawal in await self._rows(WITHDRAWALS, WITHDRAWALS.c.patient_id, [p["id"] for p in patients]):
            self._withdrawals[withdrawal["patient_id"]] = withdrawal

    async def prefetch_prescriptions(self, ids: Iterable[str]) -> None:
        missing = sorted({i for i in ids if i not in self._prescriptions})
        for row in await self._rows(PRESCRIPTIONS, PRESCRIPTIONS.c.id, missing):
            self._prescriptions[row["id"]] = row
        for i in missing:
            self._prescriptions.setdefault(i, None)
        await self._prefetch_patients_by_id(rx["patient_id"] for rx in self._prescriptions.values() if rx)

    async def prefetch_dispensations(self, ids: Iterable[str]) -> None:
        missing = sorted({i for i in ids if i not in self._dispensations})
        for row in await self._rows(DISPENSATIONS, DISPENSATIONS.c.id, missing):
            self._dispensations[row["id"]] = row
        for i in missing:
            self._dispensations.setdefault(i, None)

    async def prefetch_steps(self, patient_ids: Iterable[int]) -> None:
        missing = sorted({p for p in patient_ids if p not in self._steps})
        for p in missing:
            self._steps[p] = []
        for row in await self._rows(STEPS, STEPS.c.patient_id, missing):
            self._steps[row["patient_id"]].append(row)
        for p in missing:
            self._steps[p].sort(key=lambda step: step["date"])

    async def prefetch_consultations(self, patient_ids: Iterable[int]) -> None:
        missing = sorted({p for p in patient_ids if p not in self._consultations_loaded})
        for row in await self._rows(CONSULTATIONS, CONSULTATIONS.c.patient_id, missing):
            self._consultations[(row["patient_id"], row["date"], row["kind"])] = row
        self._consultations_loaded.update(missing)

    async def patient_ids(self, registry_ids: set[str]) -> list[int]:
        await self.prefetch_patients(registry_ids)
        return [p["id"] for r in registry_ids if (p := self._patients.get(r)) is not None and "id" in p]

    # --- lookups ----------------------------------------------------------------------------------

    async def _user(self, rpps: str) -> Row | None:
        if rpps not in self._users:
            await self.prefetch_users([rpps])
        return self._users[rpps]

    async def _patient(self, registry_id: str) -> Row | None:
        if registry_id not in self._patients:
            await self.prefetch_patients([registry_id])
        return self._patients[registry_id]

    async def _prescription(self, rx_id: str) -> Row | None:
        if rx_id not in self._prescriptions:
            await self.prefetch_prescriptions([rx_id])
        return self._prescriptions[rx_id]

    async def _professional_errors(self, field: str, rpps: str | None, role: str) -> list[FieldError]:
        if rpps is None:
            return []
        user = await self._user(rpps)
        if user is not None and user["role"] == role:
            return []  # users are stored only with a valid RPPS
        if not rpps_is_valid(rpps):
            return [FieldError(field, "invalid_value", "An RPPS has 11 digits and a valid Luhn key.")]
        if user is None or user["role"] != role:
            return [FieldError(field, "unknown_reference", f"No {role} with RPPS {rpps}.")]
        return []

    async def _known_patient(self, registry_id: str) -> Row:
        patient = await self._patient(registry_id)
        if patient is None:
            raise RecordRefused([FieldError("registry_id", "unknown_reference", "No such patient.")])
        return patient

    def _facts(self, patient: Row) -> rules.PatientFacts:
        withdrawal = self._withdrawals.get(patient["id"])
        return rules.PatientFacts(patient["inclusion_date"], withdrawal["date"] if withdrawal else None)

    # --- storing ------------------------------------------------------------------------------------

    async def _store(
        self,
        entity: str,
        label: str,
        table: Table,
        existing: Row | None,
        values: Row,
        create: Callable[[], Row],
        key: Callable[[], ColumnElement[bool]],
    ) -> Outcome:
        """Insert, leave alone, update (import) or refuse (API) a record found by its natural key."""
        if existing is None:
            row = create()
            self._pending[table].append(row)
            self._pending_ids.add(id(row))
            if self.audit_new:
                self._audit_entry(f"{entity}.create", entity, label, None, values)
            return Outcome.ACCEPTED
        changed = {name: value for name, value in values.items() if existing[name] != value}
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
        before = {name: existing[name] for name in changed}
        existing.update(changed)
        if id(existing) not in self._pending_ids:
            await self.session.execute(update(table).where(key()).values(**changed))
        self._audit_entry(f"{entity}.update", entity, label, before, changed)
        return Outcome.UPDATED

    def _audit_entry(self, action: str, entity: str, label: str, before: Row | None, after: Row | None) -> None:
        self._audit.append(
            {
                "actor": self.actor,
                "action": action,
                "entity": entity,
                "entity_id": label,
                "before": _plain(before),
                "after": _plain(after),
            }
        )

    def audit_summary(self, action: str, entity: str, label: str, after: Row) -> None:
        self._audit_entry(action, entity, label, None, after)

    async def flush(self) -> None:
        """Insert the new rows, kind by kind; new patients get their ids back for the records naming them."""
        for table in INSERT_ORDER:
            rows = self._pending[table]
            if not rows:
                continue
            if table is PATIENTS:
                result = await self.session.execute(
                    insert(PATIENTS).returning(PATIENTS.c.id, PATIENTS.c.registry_id), rows
                )
                ids = {registry_id: patient_id for patient_id, registry_id in result}
                for row in rows:
                    row["id"] = ids[row["registry_id"]]
                    self._patients_by_id[row["id"]] = row
            else:
                await self.session.execute(insert(table), rows)
            rows.clear()
        self._pending_ids.clear()
        await record_audit_many(self.session, self._audit)
        self._audit.clear()

    # --- one method per record type ----------------------------------------------------------------

    async def professional(self, record: ProfessionalRecord) -> Outcome:
        if not rpps_is_valid(record.rpps):
            raise RecordRefused([FieldError("rpps", "invalid_value", "An RPPS has 11 digits and a valid Luhn key.")])
        values = {"role": record.role, "name": record.name, "structure": record.structure}

        def create() -> Row:
            row = {"rpps": record.rpps, "created_at": utc_now(), **values}
            self._users[record.rpps] = row
            return row

        existing = await self._user(record.rpps)
        return await self._store(
            "professional", record.rpps, USERS, existing, values, create, lambda: USERS.c.rpps == record.rpps
        )

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
        structure = record.reference_structure
        if structure is None:
            prescriber = await self._user(record.reference_prescriber)
            structure = prescriber["structure"] if prescriber else None
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

        def create() -> Row:
            row = {"registry_id": record.registry_id, "birth_year_band": None, **values}
            self._patients[record.registry_id] = row
            return row

        existing = await self._patient(record.registry_id)
        return await self._store(
            "patient",
            record.registry_id,
            PATIENTS,
            existing,
            values,
            create,
            lambda: PATIENTS.c.registry_id == record.registry_id,
        )

    async def withdrawal(self, record: WithdrawalRecord) -> Outcome:
        patient = await self._known_patient(record.registry_id)
        errors = rules.withdrawal_errors(on=record.date, patient=self._facts(patient))
        if errors:
            raise RecordRefused(errors)
        values = {"date": record.date, "reason": record.reason}
        patient_id = patient["id"]

        def create() -> Row:
            row = {"patient_id": patient_id, **values}
            self._withdrawals[patient_id] = row
            return row

        return await self._store(
            "withdrawal",
            record.registry_id,
            WITHDRAWALS,
            self._withdrawals.get(patient_id),
            values,
            create,
            lambda: WITHDRAWALS.c.patient_id == patient_id,
        )

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
        values = {
            "patient_id": patient["id"],
            "prescriber": record.prescriber,
            "product": record.product,
            "daily_thc_mg": record.daily_thc_mg,
            "daily_cbd_mg": record.daily_cbd_mg,
            "start_date": record.start_date,
            "days": record.days,
            "secure": rules.requires_secure_prescription(product.thc_percent),
            "weaning": record.weaning,
        }

        def create() -> Row:
            row = {"id": record.id, **values}
            self._prescriptions[record.id] = row
            return row

        existing = await self._prescription(record.id)
        return await self._store(
            "prescription", record.id, PRESCRIPTIONS, existing, values, create, lambda: PRESCRIPTIONS.c.id == record.id
        )

    async def dispensation(self, record: DispensationRecord) -> Outcome:
        prescription = await self._prescription(record.prescription_id)
        patient = self._patients_by_id.get(prescription["patient_id"]) if prescription else None
        errors = await self._professional_errors("pharmacist", record.pharmacist, "pharmacist")
        errors += rules.dispensation_errors(
            supply=rules.Period(record.date, record.days_supply),
            weaning=record.weaning,
            prescription=rules.Period(prescription["start_date"], prescription["days"]) if prescription else None,
            patient=self._facts(patient) if patient else None,
            experimentation_end=self.settings.experimentation_end,
        )
        if errors or prescription is None:
            raise RecordRefused(errors)
        if record.id not in self._dispensations:
            await self.prefetch_dispensations([record.id])
        values = {
            "prescription_id": record.prescription_id,
            "patient_id": prescription["patient_id"],
            "pharmacist": record.pharmacist,
            "date": record.date,
            "quantity": record.quantity,
            "days_supply": record.days_supply,
            "weaning": record.weaning,
        }

        def create() -> Row:
            row = {"id": record.id, **values}
            self._dispensations[record.id] = row
            return row

        return await self._store(
            "dispensation",
            record.id,
            DISPENSATIONS,
            self._dispensations[record.id],
            values,
            create,
            lambda: DISPENSATIONS.c.id == record.id,
        )

    async def titration_step(self, record: TitrationStepRecord) -> Outcome:
        patient = await self._known_patient(record.registry_id)
        patient_id = patient["id"]
        await self.prefetch_steps([patient_id])
        steps = self._steps[patient_id]
        at = bisect.bisect_left(steps, record.date, key=lambda step: step["date"])
        existing = steps[at] if at < len(steps) and steps[at]["date"] == record.date else None
        previous = steps[at - 1] if at > 0 else None
        errors = rules.titration_step_errors(
            on=record.date,
            dose=rules.DailyDose(record.daily_thc_mg, record.daily_cbd_mg),
            previous=rules.DailyDose(previous["daily_thc_mg"], previous["daily_cbd_mg"]) if previous else None,
            patient=self._facts(patient),
        )
        if errors:
            raise RecordRefused(errors)
        values = {"daily_thc_mg": record.daily_thc_mg, "daily_cbd_mg": record.daily_cbd_mg}

        def create() -> Row:
            row = {"patient_id": patient_id, "date": record.date, **values}
            steps.insert(at, row)
            return row

        return await self._store(
            "titration_step",
            f"{record.registry_id}/{record.date}",
            STEPS,
            existing,
            values,
            create,
            lambda: and_(STEPS.c.patient_id == patient_id, STEPS.c.date == record.date),
        )

    async def consultation(self, record: ConsultationRecord) -> Outcome:
        patient = await self._known_patient(record.registry_id)
        errors = rules.consultation_errors(
            on=record.date, kind=record.kind, month=record.month, patient=self._facts(patient)
        )
        if errors:
            raise RecordRefused(errors)
        patient_id = patient["id"]
        await self.prefetch_consultations([patient_id])
        key = (patient_id, record.date, record.kind)
        values = {"month": record.month}

        def create() -> Row:
            row = {"patient_id": patient_id, "date": record.date, "kind": record.kind, **values}
            self._consultations[key] = row
            return row

        return await self._store(
            "consultation",
            f"{record.registry_id}/{record.date}/{record.kind}",
            CONSULTATIONS,
            self._consultations.get(key),
            values,
            create,
            lambda: and_(
                CONSULTATIONS.c.patient_id == patient_id,
                CONSULTATIONS.c.date == record.date,
                CONSULTATIONS.c.kind == record.kind,
            ),
        )
