"""Named queries of the registry area: the only place its SQL lives.

The reads of the API (patients within reach, a patient's records) and the writer's statements (rows
looked up in bulk, inserted in batches, updated by natural key) are all here; the writer keeps what it
has read in a ``Mirror`` and decides with the rules, without SQL of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Table, and_, exists, false, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.storage.models import Dispensation, Patient
from pv_service.users.schemas import Caller

Row = dict[str, Any]

# Keeps each IN (...) list well under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 900


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


async def reachable_patient(session: AsyncSession, caller: Caller, registry_id: str) -> Patient | None:
    """The patient with this registry id if the caller may see them; None if unknown or out of reach alike."""
    return await session.scalar(
        select(Patient).where(Patient.registry_id == registry_id, patients_within_reach(caller))
    )


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
