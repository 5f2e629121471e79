"""Every kind of registry record, described once: its import record, table and natural key, what it names
(loaded before it is checked), its seed-rule check, its row, its audit label and, for the kinds the API
records, its view.

``KINDS`` is the one ordered tuple of kinds. The bulk import applies them in this order and the writer
inserts new rows in this order: a kind comes after the kinds its records name (professionals before the
patients naming them, patients before their records) and withdrawals come before the records they
restrict. Adding a kind is one more ``RecordKind`` here, with its Struct in ``schemas`` and its table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from sqlalchemy import Table

from pv_service.clock import utc_now
from pv_service.registry.schemas import (
    ConsultationBody,
    ConsultationRecord,
    ConsultationView,
    DispensationBody,
    DispensationRecord,
    DispensationView,
    PatientRecord,
    PrescriptionBody,
    PrescriptionRecord,
    PrescriptionView,
    ProfessionalRecord,
    ProfessionalRole,
    TitrationStepBody,
    TitrationStepRecord,
    TitrationStepView,
    WithdrawalBody,
    WithdrawalRecord,
    WithdrawalView,
)
from pv_service.rules import registry as rules
from pv_service.rules.field_error import FieldError
from pv_service.rules.rpps import rpps_error
from pv_service.rules.text import Text
from pv_service.storage.models import (
    Base,
    Consultation,
    Dispensation,
    Patient,
    Prescription,
    TitrationStep,
    User,
    Withdrawal,
)

if TYPE_CHECKING:
    from pv_service.registry.mirror import Key, Mirror, Row

R = TypeVar("R", bound=msgspec.Struct)


@dataclass(frozen=True, slots=True)
class ApiRecording:
    """How the API records a kind: the body it decodes (the import record without ``type`` and without
    the ids the path carries), the view it answers, and what it fills in."""

    body: type[msgspec.Struct]
    view: type[msgspec.Struct]
    """The stored row's columns by name, and the patient's registry id."""
    id_prefix: str | None = None
    """A body without an ``id`` gets ``<prefix>-<12 hex digits>``."""
    caller_field: str | None = None
    """A body without this RPPS field gets the caller's."""


@dataclass(frozen=True, kw_only=True, eq=False)
class RecordKind(Generic[R]):
    """One kind of registry record, from its NDJSON line to its row and back to its view.

    A row is the table's columns that the record carries under the same name, its ``patient_id`` (the
    patient named by the field ``patient``, or through the prescription named by ``prescription``), then
    ``derived``'s columns. The key's first column says which stored rows a record may meet.
    """

    record: type[R]
    """The import record; its tag names the kind."""
    table: Table
    key: tuple[str, ...]
    """The natural key: a record with the key of a stored row is that row again (unchanged or updated)."""
    derived: Callable[[R, Mirror], Row] = lambda record, mirror: {}
    """The columns that are neither a copy of a record field nor ``patient_id``; called once checked."""
    set_on_insert: Callable[[], Row] | None = None
    """Columns written when the row is inserted and never compared afterwards."""
    assigns_id: bool = False
    """The database assigns the row's ``id``, by which other kinds' rows refer to it."""
    professionals: tuple[tuple[str, ProfessionalRole], ...] = ()
    """Record fields naming a professional by RPPS, and the role that professional must have."""
    patient: str | None = None
    """The record field naming the patient (by registry id) the record is about."""
    prescription: str | None = None
    """The record field naming the prescription (by id) the record is about."""
    check: Callable[[R, Mirror], list[FieldError]]
    """The seed rules, once what the record names is loaded (an unknown patient is refused before)."""
    apply_order: Callable[[R], Any] | None = None
    """The import applies this kind's records in this order (by default, the file's)."""
    api: ApiRecording | None = None
    """For the kinds professionals record through the API."""

    @cached_property
    def tag(self) -> str:
        return str(self.record.__struct_config__.tag)

    @cached_property
    def _copied(self) -> tuple[str, ...]:
        fields = set(self.record.__struct_fields__)
        return tuple(column.name for column in self.table.columns if column.name in fields)

    @cached_property
    def _of_a_patient(self) -> bool:
        return "patient_id" in self.table.columns and "patient_id" not in self._copied

    @cached_property
    def key_of(self) -> Callable[[Row], Key]:
        """The row's natural key, as a tuple."""
        if len(self.key) == 1:
            (column,) = self.key
            return lambda row: (row[column],)
        return itemgetter(*self.key)

    def natural_key(self, row: Row) -> dict[str, Any]:
        """The row's key columns by name, to find the stored row."""
        return {column: row[column] for column in self.key}

    def patient_id(self, record: R, mirror: Mirror) -> int | None:
        """The id of the patient the record is about; None while unknown."""
        if self.patient is not None:
            patient = patient_named(mirror, getattr(record, self.patient))
            return patient.get("id") if patient else None
        if self.prescription is not None:
            prescription = mirror.row(PRESCRIPTIONS, (getattr(record, self.prescription),))
            return prescription["patient_id"] if prescription else None
        return None

    def scope(self, record: R, mirror: Mirror) -> Any:
        """The value of the key's first column for ``record``."""
        if self.key[0] == "patient_id":
            return self.patient_id(record, mirror)
        return getattr(record, self.key[0])

    def label(self, record: R) -> str:
        """The audit entry's ``entity_id``: the record's key, with the patient's registry id for ``patient_id``."""
        fields = (self.patient if column == "patient_id" else column for column in self.key)
        return "/".join(str(getattr(record, field)) for field in fields)

    def errors(self, record: R, mirror: Mirror) -> list[FieldError]:
        """Every broken rule, in the record's field order; an unknown patient alone."""
        if self.patient is not None and patient_named(mirror, getattr(record, self.patient)) is None:
            return [FieldError(self.patient, "unknown_reference", Text("No such patient."))]
        errors = [
            error
            for field, role in self.professionals
            for error in _professional_errors(mirror, field, getattr(record, field), role)
        ]
        return errors + self.check(record, mirror)

    def row(self, record: R, mirror: Mirror) -> Row:
        row = {column: getattr(record, column) for column in self._copied}
        if self._of_a_patient:
            row["patient_id"] = self.patient_id(record, mirror)
        row.update(self.derived(record, mirror))
        return row


def _table(model: type[Base]) -> Table:
    return model.__table__  # type: ignore[return-value]


# --- what a record names ----------------------------------------------------------------------------


def patient_named(mirror: Mirror, registry_id: str) -> Row | None:
    return mirror.row(PATIENTS, (registry_id,))


def _facts(mirror: Mirror, patient: Row) -> rules.PatientFacts:
    withdrawal = mirror.row(WITHDRAWALS, (patient["id"],))
    return rules.PatientFacts(patient["inclusion_date"], withdrawal["date"] if withdrawal else None)


def _professional_errors(mirror: Mirror, field: str, rpps: str | None, role: str) -> list[FieldError]:
    if rpps is None:
        return []
    user = mirror.row(PROFESSIONALS, (rpps,))
    if user is not None and user["role"] == role:
        return []  # users are stored only with a valid RPPS
    invalid = rpps_error(field, rpps)
    if invalid is not None:
        return [invalid]
    unknown = Text(
        "No prescriber with RPPS {rpps}." if role == "prescriber" else "No pharmacist with RPPS {rpps}.", {"rpps": rpps}
    )
    return [FieldError(field, "unknown_reference", unknown)]


def _patient_facts(mirror: Mirror, record: Any) -> rules.PatientFacts:
    patient = patient_named(mirror, record.registry_id)
    assert patient is not None  # checked before the kind's own rules
    return _facts(mirror, patient)


# --- professionals ----------------------------------------------------------------------------------


def _professional_check(record: ProfessionalRecord, mirror: Mirror) -> list[FieldError]:
    invalid = rpps_error("rpps", record.rpps)
    return [invalid] if invalid else []


PROFESSIONALS: RecordKind[ProfessionalRecord] = RecordKind(
    record=ProfessionalRecord,
    table=_table(User),
    key=("rpps",),
    set_on_insert=lambda: {"created_at": utc_now()},
    check=_professional_check,
)


# --- patients ---------------------------------------------------------------------------------------


def _patient_check(record: PatientRecord, mirror: Mirror) -> list[FieldError]:
    errors = []
    if record.indication not in mirror.reference.indications:
        errors.append(FieldError("indication", "invalid_value", Text("Not one of the five indications.")))
    errors += rules.inclusion_errors(
        record.inclusion_date, start=mirror.settings.experimentation_start, cutoff=mirror.settings.inclusion_cutoff
    )
    if not record.registry_consent:
        errors.append(FieldError("registry_consent", "invalid_value", Text("Registry consent is required.")))
    return errors


def _patient_structure(record: PatientRecord, mirror: Mirror) -> Row:
    """Without a reference structure of its own, a patient takes their reference prescriber's."""
    structure = record.reference_structure
    if structure is None:
        prescriber = mirror.row(PROFESSIONALS, (record.reference_prescriber,))
        structure = prescriber["structure"] if prescriber else None
    return {"reference_structure": structure}


PATIENTS: RecordKind[PatientRecord] = RecordKind(
    record=PatientRecord,
    table=_table(Patient),
    key=("registry_id",),
    derived=_patient_structure,
    assigns_id=True,
    professionals=(("reference_prescriber", "prescriber"), ("city_doctor", "prescriber"), ("pharmacist", "pharmacist")),
    check=_patient_check,
)


# --- withdrawals ------------------------------------------------------------------------------------


def _dated(mirror: Mirror, field: str, on: date, patient: rules.PatientFacts | None) -> list[FieldError]:
    return rules.record_date_errors(field, on, today=mirror.today, patient=patient)


def _withdrawal_check(record: WithdrawalRecord, mirror: Mirror) -> list[FieldError]:
    return _dated(mirror, "date", record.date, _patient_facts(mirror, record))


WITHDRAWALS: RecordKind[WithdrawalRecord] = RecordKind(
    record=WithdrawalRecord,
    table=_table(Withdrawal),
    key=("patient_id",),
    patient="registry_id",
    check=_withdrawal_check,
    api=ApiRecording(WithdrawalBody, WithdrawalView),
)


# --- prescriptions ----------------------------------------------------------------------------------


def _prescription_check(record: PrescriptionRecord, mirror: Mirror) -> list[FieldError]:
    product = mirror.reference.products.get(record.product)
    patient = _patient_facts(mirror, record)
    return _dated(mirror, "start_date", record.start_date, patient) + rules.prescription_errors(
        product_thc_percent=product.thc_percent if product else None,
        declared_secure=record.secure,
        period=rules.Period(record.start_date, record.days),
        weaning=record.weaning,
        patient=patient,
        experimentation_end=mirror.settings.experimentation_end,
    )


def _prescription_columns(record: PrescriptionRecord, mirror: Mirror) -> Row:
    """The secure flag is derived from the product, whatever the record declared (checked to agree)."""
    product = mirror.reference.products[record.product]
    return {"secure": rules.requires_secure_prescription(product.thc_percent)}


PRESCRIPTIONS: RecordKind[PrescriptionRecord] = RecordKind(
    record=PrescriptionRecord,
    table=_table(Prescription),
    key=("id",),
    derived=_prescription_columns,
    professionals=(("prescriber", "prescriber"),),
    patient="registry_id",
    check=_prescription_check,
    api=ApiRecording(PrescriptionBody, PrescriptionView, id_prefix="RX", caller_field="prescriber"),
)


# --- dispensations ----------------------------------------------------------------------------------


def _dispensation_check(record: DispensationRecord, mirror: Mirror) -> list[FieldError]:
    prescription = mirror.row(PRESCRIPTIONS, (record.prescription_id,))
    patient = mirror.row_by_id(PATIENTS, prescription["patient_id"]) if prescription else None
    facts = _facts(mirror, patient) if patient else None
    return _dated(mirror, "date", record.date, facts) + rules.dispensation_errors(
        supply=rules.Period(record.date, record.days_supply),
        weaning=record.weaning,
        prescription=rules.Period(prescription["start_date"], prescription["days"]) if prescription else None,
        patient=facts,
        experimentation_end=mirror.settings.experimentation_end,
    )


DISPENSATIONS: RecordKind[DispensationRecord] = RecordKind(
    record=DispensationRecord,
    table=_table(Dispensation),
    key=("id",),
    professionals=(("pharmacist", "pharmacist"),),
    prescription="prescription_id",
    check=_dispensation_check,
    api=ApiRecording(DispensationBody, DispensationView, id_prefix="DS", caller_field="pharmacist"),
)


# --- titration steps --------------------------------------------------------------------------------


def _titration_step_check(record: TitrationStepRecord, mirror: Mirror) -> list[FieldError]:
    patient = patient_named(mirror, record.registry_id)
    assert patient is not None
    previous = mirror.before(TITRATION_STEPS, (patient["id"], record.date))
    facts = _facts(mirror, patient)
    return _dated(mirror, "date", record.date, facts) + rules.titration_step_errors(
        on=record.date,
        dose=rules.DailyDose(record.daily_thc_mg, record.daily_cbd_mg),
        previous=rules.DailyDose(previous["daily_thc_mg"], previous["daily_cbd_mg"]) if previous else None,
        patient=facts,
    )


TITRATION_STEPS: RecordKind[TitrationStepRecord] = RecordKind(
    record=TitrationStepRecord,
    table=_table(TitrationStep),
    key=("patient_id", "date"),
    patient="registry_id",
    check=_titration_step_check,
    # Each step is checked against the one before it, so a patient's steps are applied by date.
    apply_order=lambda record: (record.registry_id, record.date),
    api=ApiRecording(TitrationStepBody, TitrationStepView),
)


# --- consultations ----------------------------------------------------------------------------------


def _consultation_check(record: ConsultationRecord, mirror: Mirror) -> list[FieldError]:
    patient = _patient_facts(mirror, record)
    return _dated(mirror, "date", record.date, patient) + rules.consultation_errors(
        on=record.date, kind=record.kind, month=record.month, patient=patient
    )


CONSULTATIONS: RecordKind[ConsultationRecord] = RecordKind(
    record=ConsultationRecord,
    table=_table(Consultation),
    key=("patient_id", "date", "kind"),
    patient="registry_id",
    check=_consultation_check,
    api=ApiRecording(ConsultationBody, ConsultationView),
)


KINDS: tuple[RecordKind[Any], ...] = (
    PROFESSIONALS,
    PATIENTS,
    WITHDRAWALS,
    PRESCRIPTIONS,
    DISPENSATIONS,
    TITRATION_STEPS,
    CONSULTATIONS,
)
KIND_OF_RECORD: dict[type[msgspec.Struct], RecordKind[Any]] = {kind.record: kind for kind in KINDS}
