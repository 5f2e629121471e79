"""Registry use cases: read patients within reach, record what professionals do, import NDJSON.

Each call is one transaction: it loads through the repository, decides with the seed rules (through the
writer and the record kinds), stores and audits, and commits before the caller answers. Two writers
racing on one natural key are told to retry (409), with nothing written.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import msgspec
from sqlalchemy.exc import IntegrityError

from pv_service.context import ServiceContext
from pv_service.errors import BodyTooLarge, NotFound, Problem, RuleViolation, StateConflict
from pv_service.pagination import Page, decode_cursor, encode_cursor
from pv_service.registry import repository
from pv_service.registry.importer import NdjsonLines, RegistryImport
from pv_service.registry.kinds import (
    CONSULTATIONS,
    DISPENSATIONS,
    PRESCRIPTIONS,
    TITRATION_STEPS,
    ApiRecording,
    RecordKind,
)
from pv_service.registry.schemas import (
    DispensationView,
    ImportReport,
    PatientDetail,
    PatientView,
    PrescriptionView,
    TitrationStepView,
    patient_detail,
    patient_view,
    record_view,
)
from pv_service.registry.writer import Outcome, RecordRefused, RegistryWriter
from pv_service.rules.registry import Period
from pv_service.users.schemas import Caller

CONCURRENT_CHANGE = "The record changed concurrently; nothing was written. Retry the request."

# SPEC §15: the case page shows the registry of the 90 days before the earliest onset.
DAYS_BEFORE_ONSET = 90
# The longest prescription or supply (``registry.schemas.Days``): one that starts earlier ends before a window.
_LONGEST_PERIOD_DAYS = 366

ImportStage = Literal["reading", "importing"]
ImportProgress = Callable[[ImportStage, int, int | None], None]
"""Told ``(stage, done, total)``: bytes read so far (total unknown), then records applied of those decoded."""


# --- reading -------------------------------------------------------------------------------------


async def list_patients(context: ServiceContext, caller: Caller, cursor: str | None, limit: int) -> Page[PatientView]:
    after = decode_cursor(cursor, (str,))[0] if cursor else None
    async with context.database.read_session() as session:
        patients = await repository.patients_page(session, caller, after=after, limit=limit + 1)
    shown = patients[:limit]
    next_cursor = encode_cursor([shown[-1].registry_id]) if len(patients) > limit else None
    return Page(items=[patient_view(p) for p in shown], next_cursor=next_cursor)


async def get_patient(context: ServiceContext, caller: Caller, registry_id: str) -> PatientDetail:
    async with context.database.read_session() as session:
        patient = await repository.reachable_patient(session, caller, registry_id)
        if patient is None:
            raise NotFound("patient")

        async def views(kind: RecordKind[Any], *order_by: str) -> list[Any]:
            assert kind.api is not None
            rows = await repository.patient_records(session, kind.table, patient.id, order_by)
            return [record_view(kind.api.view, row, patient.registry_id) for row in rows]

        return patient_detail(
            patient,
            prescriptions=await views(PRESCRIPTIONS, "start_date", "id"),
            dispensations=await views(DISPENSATIONS, "date", "id"),
            titration_steps=await views(TITRATION_STEPS, "date"),
            consultations=await views(CONSULTATIONS, "date", "kind"),
        )


@dataclass(frozen=True, slots=True)
class RecordsAround:
    """A patient's registry records in force on some day of [since, until], each list in date order."""

    patient: PatientView
    since: date
    until: date
    titration_steps: list[TitrationStepView]
    prescriptions: list[PrescriptionView]
    dispensations: list[DispensationView]


async def records_before(
    context: ServiceContext, caller: Caller, registry_id: str, until: date, days: int = DAYS_BEFORE_ONSET
) -> RecordsAround:
    """The records of the ``days`` days up to ``until`` (404 for a patient outside reach): the step in force on
    the first day and the titration steps dated after it; the prescriptions and dispensations whose period
    (SPEC §14: inclusive) meets those days."""
    since = until - timedelta(days=days)
    earliest_start = since - timedelta(days=_LONGEST_PERIOD_DAYS - 1)
    async with context.database.read_session() as session:
        patient = await repository.reachable_patient(session, caller, registry_id)
        if patient is None:
            raise NotFound("patient")

        def views(kind: RecordKind[Any], rows: Iterable[Any]) -> list[Any]:
            assert kind.api is not None
            return [record_view(kind.api.view, row, registry_id) for row in rows]

        async def meeting(kind: RecordKind[Any], column: str, length: str) -> list[Any]:
            dated = (column, earliest_start, until)
            rows = await repository.patient_records(session, kind.table, patient.id, (column, "id"), dated=dated)
            return views(kind, (row for row in rows if Period(row[column], row[length]).last >= since))

        steps = TITRATION_STEPS.table
        next_day = since + timedelta(days=1)
        in_force = await repository.latest_patient_record_before(session, steps, patient.id, "date", next_day)
        later = await repository.patient_records(session, steps, patient.id, ("date",), dated=("date", next_day, until))
        return RecordsAround(
            patient=patient_view(patient),
            since=since,
            until=until,
            titration_steps=views(TITRATION_STEPS, [*([in_force] if in_force else []), *later]),
            prescriptions=await meeting(PRESCRIPTIONS, "start_date", "days"),
            dispensations=await meeting(DISPENSATIONS, "date", "days_supply"),
        )


# --- recording -----------------------------------------------------------------------------------


def _import_record(
    record: type[msgspec.Struct], api: ApiRecording, body: msgspec.Struct, caller: Caller, registry_id: str | None
) -> Any:
    """The import record an API body stands for: the path's registry id, a new id, the caller's RPPS."""
    fields = msgspec.structs.asdict(body)
    if api.id_prefix is not None and fields.get("id") is None:
        fields["id"] = f"{api.id_prefix}-{secrets.token_hex(6).upper()}"
    if api.caller_field is not None and fields.get(api.caller_field) is None:
        fields[api.caller_field] = caller.rpps
    if registry_id is not None:
        fields["registry_id"] = registry_id
    return record(**fields)


def _refusal(refused: RecordRefused) -> Problem:
    if refused.status == 409:
        return StateConflict("A record with this key already exists with other content.", refused.errors)
    return RuleViolation(refused.errors)


async def add_record(
    context: ServiceContext,
    caller: Caller,
    kind: RecordKind[Any],
    body: msgspec.Struct,
    *,
    registry_id: str | None = None,
) -> tuple[Any, bool]:
    """Records what a professional did, as a record of ``kind``; answers the stored record's view and whether
    it is new (the same content again is a replay, answered as stored).

    With ``registry_id`` (the path's), the patient must be within the caller's reach (404 otherwise); a
    dispensation names its prescription instead, and a pharmacist may dispense against any known one,
    which brings the patient within their reach."""
    api = kind.api
    assert api is not None, f"{kind.tag} records are not recorded through the API"
    record = _import_record(kind.record, api, body, caller, registry_id)
    try:
        async with context.database.session() as session, session.begin():
            if registry_id is not None and await repository.reachable_patient(session, caller, registry_id) is None:
                raise NotFound("patient")
            writer = RegistryWriter(session, reference=context.reference, settings=context.settings, actor=caller.rpps)
            try:
                applied = await writer.apply(kind, record)
            except RecordRefused as refused:
                raise _refusal(refused) from None
            await writer.flush()
            stored = await repository.stored_record(session, kind.table, kind.natural_key(applied.row))
    except IntegrityError:
        # Another writer stored a row with the same key since this one looked.
        raise StateConflict(CONCURRENT_CHANGE) from None
    assert stored is not None
    return record_view(api.view, stored, stored["registry_id"]), applied.outcome is Outcome.ACCEPTED


# --- importing -----------------------------------------------------------------------------------


async def _each(chunks: AsyncIterable[bytes] | Iterable[bytes]) -> AsyncIterable[bytes]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk


def _records_applied(progress: ImportProgress, total: int) -> Callable[[int], None]:
    done = 0
    progress("importing", done, total)

    def tell(count: int) -> None:
        nonlocal done
        done += count
        progress("importing", done, total)

    return tell


async def import_ndjson(
    context: ServiceContext,
    chunks: AsyncIterable[bytes] | Iterable[bytes],
    *,
    actor: str,
    max_bytes: int | None = None,
    progress: ImportProgress | None = None,
) -> ImportReport:
    """Imports registry NDJSON read from ``chunks`` (cut anywhere) in one transaction, as ``actor``.

    Past ``max_bytes`` the body is refused (413) before anything is written. ``progress`` is told of the
    bytes read, then of the records applied. Every line gets its result in the report: the valid lines
    are kept, the others listed with their field errors."""
    job = RegistryImport(reference=context.reference, settings=context.settings, actor=actor)
    lines = NdjsonLines()
    received = 0
    async for chunk in _each(chunks):
        received += len(chunk)
        if max_bytes is not None and received > max_bytes:
            raise BodyTooLarge(max_bytes)
        job.add_lines(lines.feed(chunk))
        if progress is not None:
            progress("reading", received, None)
    job.add_lines(lines.finish())
    try:
        return await job.apply(context.database, progress=_records_applied(progress, job.decoded) if progress else None)
    except IntegrityError:
        # Another import or writer stored a row with a key of this file since this one looked.
        raise StateConflict(CONCURRENT_CHANGE) from None
