"""Named queries of the cases area: the only place its SQL lives."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, Select, Table, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.registry.repository import patients_within_reach
from pv_service.rules.consistency import RecordedDose
from pv_service.rules.doses import last_on_or_before
from pv_service.rules.duplicates import ReactionKey
from pv_service.storage.dialect import is_sqlite, upsert_insert
from pv_service.storage.models import (
    Case,
    CaseCounter,
    CaseLink,
    CaseReaction,
    CaseVersion,
    Dispensation,
    FollowUpRequest,
    IdempotencyKey,
    Patient,
    Prescription,
    TitrationStep,
    Withdrawal,
)
from pv_service.users.schemas import Caller

COUNTERS: Table = CaseCounter.__table__  # type: ignore[assignment]


async def reachable_case(session: AsyncSession, caller: Caller, case_id: int, *, lock: bool = False) -> Case | None:
    """The case if its patient is within the caller's reach. ``lock`` holds the row until the transaction
    ends (PostgreSQL; SQLite's writer lock already does) — FOR NO KEY UPDATE, which writers of rows that
    refer to the case (links, versions) do not wait for, so two locked cases can link each other."""
    query = (
        select(Case)
        .join(Patient, Patient.id == Case.patient_id)
        .where(Case.id == case_id, patients_within_reach(caller))
    )
    return await session.scalar(query.with_for_update(of=Case, key_share=True) if lock else query)


async def hold_patients(session: AsyncSession, patient_ids: Sequence[int]) -> dict[int, str]:
    """Hold the patients' rows until the transaction ends and return their indications as held. On
    PostgreSQL the rows are locked in id order, so two writers holding several never wait on each other in a
    cycle, and a registry import changing an indication waits, then moves the cases written here; SQLite's
    write transactions already run one at a time, so there the rows are only read."""
    if not patient_ids:
        return {}
    query = select(Patient.id, Patient.indication).where(Patient.id.in_(patient_ids)).order_by(Patient.id)
    if not is_sqlite(session):
        query = query.with_for_update(key_share=True)
    return {patient_id: indication for patient_id, indication in await session.execute(query)}


async def patient_of(session: AsyncSession, case: Case) -> Patient:
    patient = await session.get(Patient, case.patient_id)
    assert patient is not None  # a foreign key
    return patient


class DosesAsked(NamedTuple):
    patient_id: int
    product: str | None
    day: date


class DosesOn(NamedTuple):
    """The titration step in force on the day asked, and the quantity and days supplied by the patient's
    last dispensation of the product on or before it (None without a product)."""

    titration: RecordedDose | None
    supply: tuple[float, int] | None


async def doses_on(session: AsyncSession, asked: Sequence[DosesAsked]) -> list[DosesOn]:
    """The doses of each of ``asked``, in order: the patients' titration steps and their dispensations of the
    products asked read in two statements however many are asked (a patient's history is a few dozen rows),
    the ones in force picked from them."""
    if not asked:
        return []
    patient_ids = sorted({one.patient_id for one in asked})
    steps: dict[int, list[tuple[date, RecordedDose]]] = {}
    for patient_id, day, thc, cbd in await session.execute(
        select(TitrationStep.patient_id, TitrationStep.date, TitrationStep.daily_thc_mg, TitrationStep.daily_cbd_mg)
        .where(TitrationStep.patient_id.in_(patient_ids))
        .order_by(TitrationStep.patient_id, TitrationStep.date)
    ):
        steps.setdefault(patient_id, []).append((day, RecordedDose(thc, cbd)))
    supplies: dict[tuple[int, str], list[tuple[date, tuple[float, int]]]] = {}
    products = sorted({one.product for one in asked if one.product is not None})
    if products:
        for patient_id, product, day, quantity, days_supply in await session.execute(
            select(Dispensation.patient_id, Prescription.product, Dispensation.date, Dispensation.quantity,
                   Dispensation.days_supply)
            .join(Prescription, Prescription.id == Dispensation.prescription_id)
            .where(Dispensation.patient_id.in_(patient_ids), Prescription.product.in_(products))
            .order_by(Dispensation.patient_id, Prescription.product, Dispensation.date, Dispensation.id)
        ):  # fmt: skip
            supplies.setdefault((patient_id, product), []).append((day, (quantity, days_supply)))
    return [
        DosesOn(
            last_on_or_before(steps.get(one.patient_id, []), one.day),
            last_on_or_before(supplies.get((one.patient_id, one.product), []), one.day) if one.product else None,
        )
        for one in asked
    ]


async def prescribed_products(session: AsyncSession, patient_ids: Sequence[int]) -> dict[int, frozenset[str]]:
    """The products prescribed to each of the patients, in one statement."""
    rows = await session.execute(
        select(Prescription.patient_id, Prescription.product).where(Prescription.patient_id.in_(patient_ids)).distinct()
    )
    products: dict[int, set[str]] = {patient_id: set() for patient_id in patient_ids}
    for patient_id, product in rows:
        products[patient_id].add(product)
    return {patient_id: frozenset(found) for patient_id, found in products.items()}


async def duplicate_candidates(
    session: AsyncSession, patient_ids: Sequence[int], other_than: int | None
) -> dict[int, dict[tuple[int, str], list[ReactionKey]]]:
    """By patient, the reactions of the patient's other live cases, by (id, number): a patient's cases are
    few, and a reaction without onset may match any of them (``rules.duplicates`` decides)."""
    rows = await session.execute(
        select(
            Case.patient_id, CaseReaction.case_id, Case.case_number, CaseReaction.code, CaseReaction.text,
            CaseReaction.onset_date,
        )
        .join(Case, Case.id == CaseReaction.case_id)
        .where(Case.patient_id.in_(patient_ids), Case.id != (other_than or 0), Case.state != "nullified")
    )  # fmt: skip
    by_patient: dict[int, dict[tuple[int, str], list[ReactionKey]]] = {}
    for patient_id, other_id, number, code, text, onset in rows:
        by_patient.setdefault(patient_id, {}).setdefault((other_id, number), []).append(ReactionKey(code, text, onset))
    return by_patient


async def reactions_of(session: AsyncSession, case_id: int) -> list[CaseReaction]:
    query = select(CaseReaction).where(CaseReaction.case_id == case_id).order_by(CaseReaction.position)
    return list(await session.scalars(query))


async def latest_report(session: AsyncSession, case: Case) -> dict[str, Any]:
    stored = await session.scalar(
        select(CaseVersion.body).where(CaseVersion.case_id == case.id, CaseVersion.version == case.version)
    )
    assert stored is not None  # every case has its current version
    return stored


async def versions_of(session: AsyncSession, case_id: int) -> list[Row[Any]]:
    """(version, received_at, body) of every version, oldest first."""
    return list(
        await session.execute(
            select(CaseVersion.version, CaseVersion.received_at, CaseVersion.body)
            .where(CaseVersion.case_id == case_id)
            .order_by(CaseVersion.version)
        )
    )


async def version_of(session: AsyncSession, case_id: int, version: int) -> CaseVersion | None:
    return await session.scalar(
        select(CaseVersion).where(CaseVersion.case_id == case_id, CaseVersion.version == version)
    )


def versions_query(case_id: int) -> Select[Any]:
    return select(CaseVersion.version, CaseVersion.received_at).where(CaseVersion.case_id == case_id)


def own_cases_query(reporter: str | None, registry_id: str | None) -> Select[Any]:
    """Cases with their patient's registry id; ``reporter`` None means every case."""
    query = select(Case, Patient.registry_id).join(Patient, Patient.id == Case.patient_id)
    if reporter is not None:
        query = query.where(Case.reporter_rpps == reporter)
    if registry_id is not None:
        query = query.where(Patient.registry_id == registry_id)
    return query


async def linked_cases(session: AsyncSession, case_id: int) -> list[tuple[int, str]]:
    rows = await session.execute(
        select(Case.id, Case.case_number)
        .join(CaseLink, CaseLink.other_case_id == Case.id)
        .where(CaseLink.case_id == case_id)
        .order_by(Case.id)
    )
    return [(other_id, number) for other_id, number in rows]


def add_links(session: AsyncSession, case_id: int, others: Sequence[int]) -> None:
    """Links both ways: each case names the other among its possible duplicates."""
    for other in others:
        if other != case_id:
            session.add_all(
                [CaseLink(case_id=case_id, other_case_id=other), CaseLink(case_id=other, other_case_id=case_id)]
            )


async def idempotency_record(session: AsyncSession, rpps: str, key: str) -> IdempotencyKey | None:
    return await session.get(IdempotencyKey, (rpps, key))


async def remember_answers(session: AsyncSession, records: Sequence[IdempotencyKey], expired_before: datetime) -> None:
    """Store keys' answers, replacing expired records of the same keys."""
    if not records:
        return
    await session.execute(
        delete(IdempotencyKey).where(
            tuple_(IdempotencyKey.user_rpps, IdempotencyKey.key).in_([(r.user_rpps, r.key) for r in records]),
            IdempotencyKey.created_at <= expired_before,
        )
    )
    session.add_all(records)


async def take_case_numbers(session: AsyncSession, year: int, count: int) -> int:
    """Raise the year's counter by ``count`` and return the last number taken (the numbers are the ``count``
    up to it). One counter row per year, taken inside the cases' own transaction, so numbers are unique under
    concurrency on both engines; a rolled-back case leaves a gap."""
    statement = upsert_insert(session, COUNTERS).values(year=year, last=count)
    statement = statement.on_conflict_do_update(
        index_elements=[COUNTERS.c.year], set_={"last": COUNTERS.c.last + statement.excluded.last}
    ).returning(COUNTERS.c.last)
    return int((await session.execute(statement)).scalar_one())


async def answer_follow_up_requests(session: AsyncSession, case_id: int, version: int) -> None:
    await session.execute(
        update(FollowUpRequest)
        .where(FollowUpRequest.case_id == case_id, FollowUpRequest.answered_version.is_(None))
        .values(answered_version=version)
    )


async def follow_up_requests_of(session: AsyncSession, case_id: int) -> list[FollowUpRequest]:
    rows = await session.scalars(
        select(FollowUpRequest).where(FollowUpRequest.case_id == case_id).order_by(FollowUpRequest.id)
    )
    return list(rows)


async def patients_with_latest_product(
    session: AsyncSession, caller: Caller, registry_id: str | None, limit: int
) -> list[Row[Any]]:
    """(registry_id, inclusion_date, indication, withdrawn_on, product) of the patients within reach (only
    ``registry_id`` when given), by registry id, ``product`` being that of their latest prescription (null
    without one); at most ``limit``."""
    latest_product = (
        select(Prescription.product)
        .where(Prescription.patient_id == Patient.id)
        .order_by(Prescription.start_date.desc(), Prescription.id.desc())
        .limit(1)
        .correlate(Patient)
        .scalar_subquery()
    )
    query = (
        select(
            Patient.registry_id,
            Patient.inclusion_date,
            Patient.indication,
            Withdrawal.date.label("withdrawn_on"),
            latest_product.label("product"),
        )
        .outerjoin(Withdrawal, Withdrawal.patient_id == Patient.id)
        .where(patients_within_reach(caller))
        .order_by(Patient.registry_id)
        .limit(limit)
    )
    if registry_id is not None:
        query = query.where(Patient.registry_id == registry_id)
    return list(await session.execute(query))


async def missing_fields(session: AsyncSession, caller: Caller, case_ids: Sequence[int]) -> dict[int, list[str]]:
    """The recommended fields each of these cases still misses, for those within the caller's reach."""
    rows = await session.execute(
        select(Case.id, Case.missing)
        .join(Patient, Patient.id == Case.patient_id)
        .where(Case.id.in_(case_ids), patients_within_reach(caller))
    )
    return {case_id: missing for case_id, missing in rows}


async def open_follow_up_requests(session: AsyncSession, case_ids: Sequence[int]) -> dict[int, list[FollowUpRequest]]:
    """The follow-up requests of these cases that no version has answered yet, oldest first."""
    rows = await session.scalars(
        select(FollowUpRequest)
        .where(FollowUpRequest.case_id.in_(case_ids), FollowUpRequest.answered_version.is_(None))
        .order_by(FollowUpRequest.case_id, FollowUpRequest.id)
    )
    by_case: dict[int, list[FollowUpRequest]] = {}
    for request in rows:
        by_case.setdefault(request.case_id, []).append(request)
    return by_case
