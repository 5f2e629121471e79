"""Registry use cases of the API: read patients within reach, record what professionals do.

Each call is one transaction: it loads with storage, decides with the rules (through the writer), stores
and audits, and commits before the handler answers.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.context import ServiceContext
from pv_service.errors import Problem, not_found
from pv_service.pagination import Page, decode_cursor, encode_cursor
from pv_service.registry import views
from pv_service.registry.importer import ImportReport, NdjsonLines, RegistryImport
from pv_service.registry.reach import patients_within_reach
from pv_service.registry.records import (
    ConsultationBody,
    ConsultationRecord,
    DispensationBody,
    DispensationRecord,
    PrescriptionBody,
    PrescriptionRecord,
    TitrationStepBody,
    TitrationStepRecord,
    WithdrawalBody,
    WithdrawalRecord,
)
from pv_service.registry.writer import Outcome, RecordRefused, RegistryWriter
from pv_service.storage.models import (
    Consultation,
    Dispensation,
    Patient,
    Prescription,
    TitrationStep,
)
from pv_service.users import Caller


def _writer(session: AsyncSession, context: ServiceContext, caller: Caller) -> RegistryWriter:
    return RegistryWriter(
        session,
        reference=context.reference,
        settings=context.settings,
        actor=caller.rpps,
        update_existing=False,
        audit_new=True,
    )


def _refusal(refused: RecordRefused) -> Problem:
    if refused.status == 409:
        return Problem(409, "A record with this key already exists with other content.", refused.errors)
    return Problem(422, f"{len(refused.errors)} rule(s) broken; see errors.", refused.errors)


async def _reachable_patient(session: AsyncSession, caller: Caller, registry_id: str) -> Patient:
    patient = await session.scalar(
        select(Patient).where(Patient.registry_id == registry_id, patients_within_reach(caller))
    )
    if patient is None:
        raise not_found("patient")
    return patient


async def list_patients(context: ServiceContext, caller: Caller, cursor: str | None, limit: int) -> Page[Any]:
    query = select(Patient).where(patients_within_reach(caller)).order_by(Patient.registry_id).limit(limit + 1)
    if cursor:
        (after,) = decode_cursor(cursor, (str,))
        query = query.where(Patient.registry_id > after)
    async with context.database.read_session() as session:
        rows = list(await session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].registry_id]) if more else None
    return Page(items=[views.patient_view(p) for p in rows], next_cursor=next_cursor)


async def get_patient(context: ServiceContext, caller: Caller, registry_id: str) -> views.PatientDetail:
    async with context.database.read_session() as session:
        patient = await _reachable_patient(session, caller, registry_id)
        pid = patient.id
        prescriptions = await session.scalars(
            select(Prescription)
            .where(Prescription.patient_id == pid)
            .order_by(Prescription.start_date, Prescription.id)
        )
        dispensations = await session.scalars(
            select(Dispensation).where(Dispensation.patient_id == pid).order_by(Dispensation.date, Dispensation.id)
        )
        steps = await session.scalars(
            select(TitrationStep).where(TitrationStep.patient_id == pid).order_by(TitrationStep.date)
        )
        consultations = await session.scalars(
            select(Consultation).where(Consultation.patient_id == pid).order_by(Consultation.date, Consultation.kind)
        )
        return views.patient_detail(patient, list(prescriptions), list(dispensations), list(steps), list(consultations))


def _generated_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6).upper()}"


async def _record_for_patient(
    context: ServiceContext,
    caller: Caller,
    registry_id: str,
    record: Any,
    apply: Callable[[RegistryWriter], Any],
    load: Callable[[AsyncSession, Patient], Any],
) -> tuple[Any, bool]:
    async with context.database.session() as session, session.begin():
        patient = await _reachable_patient(session, caller, registry_id)
        writer = _writer(session, context, caller)
        try:
            outcome = await apply(writer)(record)
        except RecordRefused as refused:
            raise _refusal(refused) from None
        await writer.flush()
        view = await load(session, patient)
    return view, outcome is Outcome.ACCEPTED


def _fields(body: msgspec.Struct) -> dict[str, Any]:
    return msgspec.structs.asdict(body)


async def add_prescription(
    context: ServiceContext, caller: Caller, registry_id: str, body: PrescriptionBody
) -> tuple[views.PrescriptionView, bool]:
    fields = _fields(body)
    record = PrescriptionRecord(
        **{**fields, "id": body.id or _generated_id("RX"), "prescriber": body.prescriber or caller.rpps},
        registry_id=registry_id,
    )

    async def load(session: AsyncSession, patient: Patient) -> views.PrescriptionView:
        row = await session.get(Prescription, record.id)
        assert row is not None
        return views.prescription_view(row, patient.registry_id)

    return await _record_for_patient(context, caller, registry_id, record, lambda w: w.prescription, load)


async def add_titration_step(
    context: ServiceContext, caller: Caller, registry_id: str, body: TitrationStepBody
) -> tuple[views.TitrationStepView, bool]:
    record = TitrationStepRecord(**_fields(body), registry_id=registry_id)

    async def load(session: AsyncSession, patient: Patient) -> views.TitrationStepView:
        row = await session.scalar(
            select(TitrationStep).where(TitrationStep.patient_id == patient.id, TitrationStep.date == record.date)
        )
        assert row is not None
        return views.titration_step_view(row, patient.registry_id)

    return await _record_for_patient(context, caller, registry_id, record, lambda w: w.titration_step, load)


async def add_consultation(
    context: ServiceContext, caller: Caller, registry_id: str, body: ConsultationBody
) -> tuple[views.ConsultationView, bool]:
    record = ConsultationRecord(**_fields(body), registry_id=registry_id)

    async def load(session: AsyncSession, patient: Patient) -> views.ConsultationView:
        row = await session.scalar(
            select(Consultation).where(
                Consultation.patient_id == patient.id,
                Consultation.date == record.date,
                Consultation.kind == record.kind,
            )
        )
        assert row is not None
        return views.consultation_view(row, patient.registry_id)

    return await _record_for_patient(context, caller, registry_id, record, lambda w: w.consultation, load)


async def add_withdrawal(
    context: ServiceContext, caller: Caller, registry_id: str, body: WithdrawalBody
) -> tuple[views.WithdrawalView, bool]:
    record = WithdrawalRecord(**_fields(body), registry_id=registry_id)

    async def load(session: AsyncSession, patient: Patient) -> views.WithdrawalView:
        await session.refresh(patient, ["withdrawal"])
        assert patient.withdrawal is not None
        return views.withdrawal_view(patient.withdrawal, patient.registry_id)

    return await _record_for_patient(context, caller, registry_id, record, lambda w: w.withdrawal, load)


async def add_dispensation(
    context: ServiceContext, caller: Caller, body: DispensationBody
) -> tuple[views.DispensationView, bool]:
    """A pharmacist may dispense against any known prescription; doing so brings the patient within reach."""
    fields = _fields(body)
    record = DispensationRecord(
        **{**fields, "id": body.id or _generated_id("DS"), "pharmacist": body.pharmacist or caller.rpps}
    )
    async with context.database.session() as session, session.begin():
        writer = _writer(session, context, caller)
        try:
            outcome = await writer.dispensation(record)
        except RecordRefused as refused:
            raise _refusal(refused) from None
        await writer.flush()
        row = await session.get(Dispensation, record.id)
        assert row is not None
        patient = await session.get(Patient, row.patient_id)
        assert patient is not None
        view = views.dispensation_view(row, patient.registry_id)
    return view, outcome is Outcome.ACCEPTED


async def import_stream(
    context: ServiceContext, caller: Caller, chunks: AsyncIterator[bytes], max_bytes: int
) -> ImportReport:
    """The admin endpoint's import: the body is read as a stream and refused past ``max_bytes``."""
    job = RegistryImport(reference=context.reference, settings=context.settings, actor=caller.rpps)
    lines = NdjsonLines()
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > max_bytes:
            raise Problem(413, f"An import body may hold at most {max_bytes} bytes.")
        job.add_lines(lines.feed(chunk))
    job.add_lines(lines.finish())
    return await job.apply(context.database)
