"""Bulk data for the figures, written through SQLAlchemy Core in batches of 10,000.

The registry import is the service's own path but far too slow to reach a million rows in a benchmark's
time, so only the professionals (and a few patients) go through ``import_ndjson``; patients, cases and
dispensations at scale go straight into the tables, shaped like what the service itself writes.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate, islice
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Table, func, insert, select, text

from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.digests.counts import count_cases, local_monday
from pv_service.registry.service import import_ndjson
from pv_service.storage.database import Database
from pv_service.storage.models import (
    Case,
    CaseReaction,
    Dispensation,
    Patient,
    Prescription,
    TitrationStep,
)

BATCH = 10_000
Row = dict[str, Any]
T = TypeVar("T")
CASES: Table = Case.__table__  # type: ignore[assignment]
CASE_REACTIONS: Table = CaseReaction.__table__  # type: ignore[assignment]
PATIENTS: Table = Patient.__table__  # type: ignore[assignment]
PRESCRIPTIONS: Table = Prescription.__table__  # type: ignore[assignment]
DISPENSATIONS: Table = Dispensation.__table__  # type: ignore[assignment]
TITRATION_STEPS: Table = TitrationStep.__table__  # type: ignore[assignment]


class Weighted(Generic[T]):
    """Values drawn by weight: cumulative weights computed once, one bisection per draw (random.choices
    recomputes them on every call, which dominated generating a million cases)."""

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.values = [value for value, _ in pairs]
        self.cumulative = list(accumulate(weight for _, weight in pairs))

    def draw(self, rng: random.Random) -> T:
        return self.values[bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


# Shares of a case base in the ranges a PV centre sees; serious = P1–P3.
PRIORITIES = Weighted((("P1", 2), ("P2", 8), ("P3", 15), ("P4", 30), ("P5", 45)))
# States by age of the case in days: recent cases are being worked on, older ones are mostly closed.
STATES_BY_AGE = (
    (30, Weighted((("received", 30), ("in_triage", 30), ("assessed", 20), ("awaiting_follow_up", 10), ("closed", 10)))),
    (120, Weighted((("in_triage", 5), ("assessed", 15), ("awaiting_follow_up", 10), ("closed", 70)))),
    (None, Weighted((("assessed", 1), ("awaiting_follow_up", 1), ("closed", 93), ("duplicate", 4), ("nullified", 1)))),
)
OUTCOMES = ("recovered", "recovering", "not_recovered", "unknown")
UNCODED_SHARE = 0.1
CASES_SPAN = timedelta(days=730)


# --- the registry's professionals, through the service's own import ----------------------------------


async def import_registry(context: ServiceContext, records: list[dict[str, object]]) -> None:
    """Import records with the service's importer; any refused line is a bug of the bench's data."""
    encoder = msgspec.json.Encoder()
    report = await import_ndjson(context, (encoder.encode(record) + b"\n" for record in records), actor="bench")
    if report.failed:
        raise RuntimeError(f"the bench's registry was refused: {report.errors[:3]}")


async def scalar_list(database: Database, statement: Any) -> list[Any]:
    async with database.read_session() as session:
        return list(await session.scalars(statement))


async def next_id(database: Database, table: Table) -> int:
    async with database.read_session() as session:
        return int(await session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1


# --- writing --------------------------------------------------------------------------------------------


def batches(rows: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


async def insert_batch(database: Database, tables: Sequence[tuple[Table, list[Row]]]) -> None:
    """One executemany per table, one commit for the batch: rows that refer to each other land together."""
    async with database.engine.begin() as connection:
        for table, rows in tables:
            if rows:
                await connection.execute(insert(table), rows)


async def advance_sequences(database: Database, tables: Sequence[Table]) -> None:
    """PostgreSQL: rows written with explicit ids leave the id sequences behind; bring them level."""
    if database.dialect != "postgresql":
        return
    async with database.engine.begin() as connection:
        for table in tables:
            await connection.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), (SELECT max(id) FROM {table.name}))")
            )


async def analyse(database: Database) -> None:
    """PostgreSQL: gather the planner's statistics, as autovacuum soon does after a bulk load in production;
    a table never analysed gets plans made for a handful of rows."""
    if database.dialect != "postgresql":
        return
    async with database.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))


# --- patients -------------------------------------------------------------------------------------------


def patient_rows(first_id: int, count: int, prescribers: Sequence[str], indications: Sequence[str]) -> Iterator[Row]:
    """Registry patients included over the experimentation's inclusion window."""
    rng = random.Random(first_id)
    window = (date(2024, 3, 26) - date(2021, 3, 26)).days
    for patient_id in range(first_id, first_id + count):
        inclusion = date(2021, 3, 26) + timedelta(days=rng.randrange(window))
        yield {
            "id": patient_id,
            "registry_id": f"BP-{patient_id:07d}",
            "birth_year": inclusion.year - rng.randint(18, 85),
            "birth_year_band": None,
            "pseudonymised_at": None,
            "sex": rng.choice("FM"),
            "indication": rng.choice(indications),
            "reference_structure": "CHU (bench)",
            "inclusion_date": inclusion,
            "reference_prescriber": rng.choice(prescribers),
            "city_doctor": None,
            "pharmacist": None,
            "registry_consent": True,
            "nir_consent": False,
            "legal_status": "adult",
        }


async def insert_patients(context: ServiceContext, count: int, prescribers: Sequence[str]) -> list[int]:
    first = await next_id(context.database, PATIENTS)
    indications = sorted(context.reference.indications)
    for batch in batches(patient_rows(first, count, prescribers, indications)):
        await insert_batch(context.database, [(PATIENTS, batch)])
    await advance_sequences(context.database, [PATIENTS])
    return list(range(first, first + count))


# --- cases ----------------------------------------------------------------------------------------------

Subject = Callable[[random.Random], tuple[int, str]]


@dataclass(frozen=True)
class CasePlan:
    """Cases received over ``span`` up to ``end``, ids rising with receipt, one reaction each.

    ``subject`` draws the patient and suspect product of a case. Each product favours a few reactions,
    so the digest finds disproportionate pairs as it would in real data.
    """

    count: int
    subject: Subject
    reporters: Sequence[tuple[str, str]]
    reactions: Sequence[str]
    end: datetime
    span: timedelta = CASES_SPAN
    seed: int = 11
    # The service's zone: each case's week of receipt is its local Monday there.
    zone: ZoneInfo = field(default_factory=lambda: Settings().zone)


class _ReactionDraw:
    """Reaction codes drawn per product: every code possible, three per product six times as likely."""

    def __init__(self, rng: random.Random, reactions: Sequence[str]) -> None:
        self.rng = rng
        self.reactions = list(reactions)
        self.by_product: dict[str, Weighted[str]] = {}

    def __call__(self, product: str) -> str | None:
        if self.rng.random() < UNCODED_SHARE:
            return None  # reported as free text, not coded yet
        draw = self.by_product.get(product)
        if draw is None:
            favoured = set(random.Random(product).sample(self.reactions, 3))
            draw = self.by_product[product] = Weighted([(r, 6 if r in favoured else 1) for r in self.reactions])
        return draw.draw(self.rng)


def _state(rng: random.Random, age: timedelta) -> str:
    for days, states in STATES_BY_AGE:
        if days is None or age.days < days:
            return states.draw(rng)
    raise AssertionError("the last age band is open")


def _case_row(rng: random.Random, plan: CasePlan, case_id: int, received: datetime, product: str) -> Row:
    priority = PRIORITIES.draw(rng)
    serious = priority in ("P1", "P2", "P3")
    state = _state(rng, plan.end - received)
    reporter, role = rng.choice(plan.reporters)
    forwarded = received + timedelta(days=rng.randint(1, 10)) if serious and state == "closed" else None
    return {
        "id": case_id,
        "case_number": f"PV-{received.year}-{case_id:07d}",
        "reporter_rpps": reporter,
        "reporter_role": role,
        "received_at": received,
        "received_week": local_monday(received, plan.zone),
        "serious_since": received if serious else None,
        "updated_at": received,
        "version": 1,
        "revision": 1,
        "state": state,
        "serious": serious,
        "expected": priority not in ("P2", "P4"),
        "priority": priority,
        "criteria": ["life_threatening"] if priority == "P1" else ["hospitalisation"] if serious else [],
        "suggested_criteria": [],
        "triage_due": received + timedelta(days=1 if serious else 7),
        "forward_due": received + timedelta(days=15 if serious else 90),
        "completeness": 0.85,
        "missing": ["suspect_product.batch"],
        "warnings": [],
        "product": product,
        "daily_thc_mg": round(rng.uniform(1, 20), 1),
        "daily_cbd_mg": round(rng.uniform(0, 40), 1),
        "special_situations": [],
        "assignee": None,
        "forwarded_at": forwarded,
        "forward_destination": "crpv" if forwarded else None,
        "forward_reference": None,
        "duplicate_of": None,
        "nullification_reason": "entered twice" if state == "nullified" else None,
    }


def _reaction_row(rng: random.Random, case: Row, code: str | None) -> Row:
    onset = case["received_at"].date() - timedelta(days=rng.randint(0, 30))
    return {
        "case_id": case["id"],
        "position": 0,
        "text": code.replace("_", " ") if code else "malaise inhabituel",
        "code": code,
        "onset_date": onset,
        "end_date": None,
        "outcome": rng.choice(OUTCOMES),
        "criteria": case["criteria"],
        "expected": case["expected"],
        "staff_criteria": None,
        "who_umc": "possible" if case["state"] in ("assessed", "closed") else None,
        "chronology": None,
        "semiology": None,
        "intrinsic_score": None,
    }


def case_rows(plan: CasePlan, first_id: int) -> Iterator[tuple[Row, Row]]:
    rng = random.Random(plan.seed)
    draw = _ReactionDraw(rng, plan.reactions)
    start = plan.end - plan.span
    step = plan.span / max(1, plan.count)
    for index in range(plan.count):
        received = start + step * (index + rng.random())
        patient_id, product = plan.subject(rng)
        case = _case_row(rng, plan, first_id + index, received, product) | {"patient_id": patient_id}
        yield case, _reaction_row(rng, case, draw(product))


async def insert_cases(database: Database, plan: CasePlan) -> int:
    """Write the plan's cases and their reactions, then add them to the digest's counts (in one grouped
    read, as the service counts what it writes); returns how many cases were written."""
    first = await next_id(database, CASES)
    written = 0
    for pairs in batches(case_rows(plan, first)):
        await insert_batch(database, [(CASES, [c for c, _ in pairs]), (CASE_REACTIONS, [r for _, r in pairs])])
        written += len(pairs)
    await advance_sequences(database, [CASES, CASE_REACTIONS])
    async with database.session() as session, session.begin():
        await count_cases(session, select(CASES.c.id).where(CASES.c.id >= first))
    await analyse(database)
    return written


def random_subject(patient_ids: Sequence[int], products: Weighted[str]) -> Subject:
    """Any patient, a product by catalogue share."""

    def subject(rng: random.Random) -> tuple[int, str]:
        return rng.choice(patient_ids), products.draw(rng)

    return subject


def now_utc() -> datetime:
    return datetime.now(UTC)
