"""Named queries of the registry area: the only place its SQL lives.

The reads of the API (patients within reach, a patient's records) and the writer's statements (rows
looked up in bulk, inserted in batches, updated by natural key) are all here; the writer keeps what it
has read in a ``Mirror`` and decides with the rules, without SQL of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import date
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    Table,
    and_,
    exists,
    false,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncResult, AsyncSession

from pv_service.registry.schemas import PatientFacts
from pv_service.storage.models import Dispensation, Patient, Prescription, TitrationStep, Withdrawal
from pv_service.users.schemas import Caller

Row = dict[str, Any]

# Keeps each IN (...) list well under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 900
# Rows fetched from the database at a time by the cross-checks' streams.
STREAM_BATCH = 10_000


# --- reach -----------------------------------------------------------------------------------------


def patients_within_reach(caller: Caller) -> ColumnElement[bool]:
    """The caller's patients (SPEC §1) as one SQL condition on ``Patient``. A prescriber's patients are those
    they refer or follow as city doctor; a pharmacist's, those naming them or to whom they have dispensed.
    PV staff and the operator see the whole mirror."""
    if caller.role == "prescriber":
        return or_(Patient.reference_prescriber == caller.rpps, Patient.city_doctor == caller.rpps)
    if caller.role == "pharmacist":
        dispensed = exists(
            select(Dispensation.id).where(Dispensation.patient_id == Patient.id, Dispensation.pharmacist == caller.rpps)
        )
        return or_(Patient.pharmacist == caller.rpps, dispensed)
    if caller.role in ("pv_staff", "admin"):
        return true()
    return false()


def _reachable_by_registry_id(caller: Caller, registry_id: str) -> ColumnElement[bool]:
    return and_(Patient.registry_id == registry_id, patients_within_reach(caller))


async def reachable_patient(session: AsyncSession, caller: Caller, registry_id: str) -> Patient | None:
    """The patient with this registry id if the caller may see them; None if unknown or out of reach alike."""
    return await session.scalar(select(Patient).where(_reachable_by_registry_id(caller, registry_id)))


_FACTS = tuple(getattr(Patient, name) for name in PatientFacts._fields)


async def reachable_patient_facts(connection: AsyncConnection, caller: Caller, registry_id: str) -> PatientFacts | None:
    """``reachable_patient``'s answer as facts: one Core statement, for the lookup every report starts with."""
    row = (await connection.execute(select(*_FACTS).where(_reachable_by_registry_id(caller, registry_id)))).first()
    return PatientFacts(*row) if row is not None else None


async def patients_page(session: AsyncSession, caller: Caller, *, after: str | None, limit: int) -> list[Patient]:
    """Patients within reach by registry id, from the one after ``after``; at most ``limit``."""
    query = select(Patient).where(patients_within_reach(caller)).order_by(Patient.registry_id).limit(limit)
    if after is not None:
        query = query.where(Patient.registry_id > after)
    return list(await session.scalars(query))


# --- a patient's records -----------------------------------------------------------------------------


async def patient_records(
    session: AsyncSession,
    table: Table,
    patient_id: int,
    order_by: Sequence[str],
    *,
    dated: tuple[str, date, date] | None = None,
) -> Sequence[RowMapping]:
    """Every row of ``table`` about this patient, in the order of ``order_by``'s columns; with
    ``dated=(column, since, until)``, only those whose date ``column`` lies in [since, until]."""
    query = select(table).where(table.c.patient_id == patient_id).order_by(*(table.c[c] for c in order_by))
    if dated is not None:
        column, since, until = dated
        query = query.where(table.c[column] >= since, table.c[column] <= until)
    return (await session.execute(query)).mappings().all()


async def latest_patient_record_before(
    session: AsyncSession, table: Table, patient_id: int, column: str, before: date
) -> RowMapping | None:
    """The row of ``table`` about this patient dated last before ``before`` (by its date ``column``), if any."""
    dated = table.c[column]
    query = select(table).where(table.c.patient_id == patient_id, dated < before).order_by(dated.desc()).limit(1)
    return (await session.execute(query)).mappings().first()


async def stored_record(session: AsyncSession, table: Table, key: Mapping[str, Any]) -> RowMapping | None:
    """The row of ``table`` with this natural key, with its patient's ``registry_id``."""
    query = (
        select(table, Patient.registry_id).join(Patient, Patient.id == table.c.patient_id).where(_matches(table, key))
    )
    return (await session.execute(query)).mappings().one_or_none()


# --- the writer's statements -------------------------------------------------------------------------


def _matches(table: Table, key: Mapping[str, Any]) -> ColumnElement[bool]:
    return and_(*(table.c[column] == value for column, value in key.items()))


async def rows_where_in(session: AsyncSession, table: Table, column: str, values: Sequence[Any]) -> list[Row]:
    """The rows of ``table`` whose ``column`` is one of ``values``, as plain dicts (several IN lists if need be)."""
    rows: list[Row] = []
    for start in range(0, len(values), LOOKUP_CHUNK):
        chunk = values[start : start + LOOKUP_CHUNK]
        result = await session.execute(select(table).where(table.c[column].in_(chunk)))
        rows.extend(dict(row) for row in result.mappings())
    return rows


async def insert_rows(session: AsyncSession, table: Table, rows: list[Row]) -> None:
    await session.execute(insert(table), rows)


async def insert_rows_returning_ids(
    session: AsyncSession, table: Table, rows: list[Row], key: Sequence[str]
) -> Iterable[tuple[Any, ...]]:
    """Inserts ``rows``; answers ``(id, *key)`` for each, in no particular order."""
    result = await session.execute(insert(table).returning(table.c.id, *(table.c[c] for c in key)), rows)
    return [tuple(row) for row in result]


async def update_row(session: AsyncSession, table: Table, key: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    await session.execute(update(table).where(_matches(table, key)).values(**values))


# --- the cross-checks' streams: one patient's rows at a time -------------------------------------------


# What a prescription prescribed, in the order of the rules' ``PrescriptionFacts`` after its id and patient.
PRESCRIBED = (
    Prescription.product,
    Prescription.start_date,
    Prescription.days,
    Prescription.secure,
    Prescription.daily_thc_mg,
    Prescription.daily_cbd_mg,
)


async def _batches(result: AsyncResult[Any]) -> AsyncIterator[Sequence[Any]]:
    """The result's rows ``STREAM_BATCH`` at a time, the next batch asked for before this one is handed
    over: the database (SQLite's thread, PostgreSQL's server) reads it while the caller judges this one."""
    following = asyncio.ensure_future(result.fetchmany(STREAM_BATCH))
    try:
        while batch := await following:
            following = asyncio.ensure_future(result.fetchmany(STREAM_BATCH))
            await asyncio.sleep(0)  # lets the request for the next batch reach the database
            yield batch
    finally:
        # A caller stopping early: the fetch under way is let finish (cancelling it mid-way would leave the
        # connection unusable), its outcome dropped, and the cursor closed.
        if not following.done():
            await asyncio.wait([following])
        if not following.cancelled():
            following.exception()
        await result.close()


async def _by_patient(
    session: AsyncSession, query: Select[Any], patient_column: int
) -> AsyncIterator[tuple[int, list[Any]]]:
    """(patient id, rows) for each patient of a query ordered by patient id, its column ``patient_column``
    (the rows' other columns lead, in the order of the rules' facts, that the job slices them). Rows are
    plain tuples fetched ``STREAM_BATCH`` at a time: one batch and one patient's rows are held, whatever
    the table's size. The query runs on the session's connection as a Core statement, without the ORM's
    loading step per row, which tuples do not need. A caller that may stop early closes the stream
    (``contextlib.aclosing``) before using the session again."""
    connection = await session.connection()
    result = await connection.stream(query.execution_options(yield_per=STREAM_BATCH))
    patient_of = itemgetter(patient_column)
    pending: list[Any] = []
    pending_patient = 0
    async with contextlib.aclosing(_batches(result)) as batches:  # no fetch left running if the caller stops
        async for batch in batches:
            for patient_id, rows in groupby(batch, key=patient_of):
                if pending and patient_id != pending_patient:
                    yield pending_patient, pending
                    pending = []
                pending_patient = patient_id
                pending.extend(rows)
    if pending:
        yield pending_patient, pending


def prescriptions_by_patient(session: AsyncSession, until: date) -> AsyncIterator[tuple[int, list[Any]]]:
    """Each patient's prescriptions with their dispensations dated on or before ``until``, as rows
    (dispensation id, prescription id, patient_id, date, quantity, days_supply, pharmacist, *PRESCRIBED):
    the rules' ``DispensationFacts`` then what was prescribed; by prescription id, then the dispensation's
    date and id. A secure prescription started by ``until``
    comes even without such a dispensation, as one row whose dispensation columns are None; other
    prescriptions without one do not come. One pass serves every dose check: each dispensation with its
    prescription, and the secure prescriptions."""
    dispensed = and_(Dispensation.prescription_id == Prescription.id, Dispensation.date <= until)
    secure = and_(Prescription.secure.is_(True), Prescription.start_date <= until)
    query = (
        select(
            Dispensation.id,
            Prescription.id,
            Prescription.patient_id,
            Dispensation.date,
            Dispensation.quantity,
            Dispensation.days_supply,
            Dispensation.pharmacist,
            *PRESCRIBED,
        )
        .select_from(Prescription)
        .outerjoin(Dispensation, dispensed)
        .where(or_(Dispensation.id.is_not(None), secure))
        .order_by(Prescription.patient_id, Prescription.id, Dispensation.date, Dispensation.id)
    )
    return _by_patient(session, query, patient_column=2)


def titration_by_patient(session: AsyncSession, until: date) -> AsyncIterator[tuple[int, list[Any]]]:
    """Each patient's titration steps dated on or before ``until``, by date, as rows (date, daily_thc_mg,
    daily_cbd_mg: the rules' ``StepFacts``, then patient_id, inclusion_date, withdrawal_date: the patient's
    withdrawal on or before ``until``, else None)."""
    query = (
        select(
            TitrationStep.date,
            TitrationStep.daily_thc_mg,
            TitrationStep.daily_cbd_mg,
            TitrationStep.patient_id,
            Patient.inclusion_date,
            Withdrawal.date,
        )
        .join(Patient, Patient.id == TitrationStep.patient_id)
        .outerjoin(Withdrawal, (Withdrawal.patient_id == TitrationStep.patient_id) & (Withdrawal.date <= until))
        .where(TitrationStep.date <= until)
        .order_by(TitrationStep.patient_id, TitrationStep.date)
    )
    return _by_patient(session, query, patient_column=3)
