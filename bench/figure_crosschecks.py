"""[crosschecks] The dose and titration cross-checks (SPEC §9: ≤ 20 s at 1 M dispensations; time per row at
1 M within 1.5 × of at 100 k).

The registry is the demo generator's (titration, prescriptions, dispensations inside them, a few early
refills and protocol breaches), generated 100 patients at a time and written in bulk, with a case on one
patient in five. The same database is measured at 100 k dispensations, then grown to the large size and
measured again, so both sizes share everything but the row count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from common import (
    SMALL_DISPENSATIONS,
    SPEC_SIZES,
    FigureResult,
    Measure,
    Reference,
    Sizes,
    Took,
    gates_met,
    open_context,
    profiled,
    timed,
    verdict,
)
from seed import (
    DISPENSATIONS,
    PATIENTS,
    PRESCRIPTIONS,
    TITRATION_STEPS,
    CasePlan,
    Row,
    advance_sequences,
    batches,
    import_registry,
    insert_batch,
    insert_cases,
    next_id,
    now_utc,
    scalar_list,
)
from sqlalchemy import select

from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.demo_data import generate_registry
from pv_service.jobs.crosschecks import dose_crosscheck, titration_crosscheck
from pv_service.jobs.periods import JobPeriod, latest_complete
from pv_service.storage.models import User

TARGET_SECONDS = 20.0
TARGET_RATIO = 1.5
CHUNK_PATIENTS = 100
CASE_SHARE = 5  # one case per this many patients


@dataclass
class RegistryChunk:
    """One generated chunk as table rows, its ids made unique by the chunk number."""

    patients: list[Row] = field(default_factory=list)
    prescriptions: list[Row] = field(default_factory=list)
    dispensations: list[Row] = field(default_factory=list)
    steps: list[Row] = field(default_factory=list)
    subjects: list[tuple[int, str]] = field(default_factory=list)


def _patient_row(record: dict[str, Any], patient_id: int, chunk: int) -> Row:
    return {
        "id": patient_id,
        "registry_id": f"{record['registry_id']}-{chunk}",
        "birth_year": record["birth_year"],
        "birth_year_band": None,
        "pseudonymised_at": None,
        "sex": record["sex"],
        "indication": record["indication"],
        "reference_structure": record["reference_structure"],
        "inclusion_date": date.fromisoformat(record["inclusion_date"]),
        "reference_prescriber": record["reference_prescriber"],
        "city_doctor": record["city_doctor"],
        "pharmacist": record["pharmacist"],
        "registry_consent": record["registry_consent"],
        "nir_consent": record["nir_consent"],
        "legal_status": record["legal_status"],
    }


def _prescription_row(record: dict[str, Any], patient_id: int, chunk: int) -> Row:
    return {
        "id": f"{record['id']}-{chunk}",
        "patient_id": patient_id,
        "prescriber": record["prescriber"],
        "product": record["product"],
        "daily_thc_mg": record["daily_thc_mg"],
        "daily_cbd_mg": record["daily_cbd_mg"],
        "start_date": date.fromisoformat(record["start_date"]),
        "days": record["days"],
        "secure": record["secure"],
        "weaning": bool(record.get("weaning", False)),
    }


def _dispensation_row(record: dict[str, Any], prescription: Row, chunk: int) -> Row:
    return {
        "id": f"{record['id']}-{chunk}",
        "prescription_id": prescription["id"],
        "patient_id": prescription["patient_id"],
        "pharmacist": record["pharmacist"],
        "date": date.fromisoformat(record["date"]),
        "quantity": record["quantity"],
        "days_supply": record["days_supply"],
        "weaning": bool(record.get("weaning", False)),
    }


def registry_chunk(context: ServiceContext, chunk: int, first_patient_id: int, today: date) -> RegistryChunk:
    """Rows of the chunk's patients and histories (withdrawals and consultations play no part here); the
    cases' subjects are each patient with the product of their first prescription."""
    rows = RegistryChunk()
    patient_ids: dict[str, int] = {}
    prescriptions: dict[str, Row] = {}
    products: dict[int, str] = {}
    for record in generate_registry(
        patients=CHUNK_PATIENTS, seed=chunk, today=today, reference=context.reference, settings=context.settings
    ):
        kind = record["type"]
        if kind == "patient":
            patient_ids[str(record["registry_id"])] = first_patient_id + len(patient_ids)
            rows.patients.append(_patient_row(record, patient_ids[str(record["registry_id"])], chunk))
        elif kind == "prescription":
            row = _prescription_row(record, patient_ids[str(record["registry_id"])], chunk)
            products.setdefault(row["patient_id"], row["product"])
            prescriptions[str(record["id"])] = row
            rows.prescriptions.append(row)
        elif kind == "dispensation":
            rows.dispensations.append(_dispensation_row(record, prescriptions[str(record["prescription_id"])], chunk))
        elif kind == "titration_step":
            rows.steps.append(
                {
                    "patient_id": patient_ids[str(record["registry_id"])],
                    "date": date.fromisoformat(str(record["date"])),
                    "daily_thc_mg": record["daily_thc_mg"],
                    "daily_cbd_mg": record["daily_cbd_mg"],
                }
            )
    rows.subjects = list(products.items())
    return rows


@dataclass
class GrowingRegistry:
    """Adds generated patients until the dispensations reach a size; remembers where it stopped."""

    context: ServiceContext
    today: date
    reporters: list[tuple[str, str]]
    reactions: list[str]
    chunk: int = 0
    dispensations: int = 0

    async def grow_to(self, target: int) -> int:
        while self.dispensations < target:
            self.chunk += 1
            first = await next_id(self.context.database, PATIENTS)
            rows = registry_chunk(self.context, self.chunk, first, self.today)
            await self._write(rows)
            self.dispensations += len(rows.dispensations)
        await advance_sequences(self.context.database, [PATIENTS, TITRATION_STEPS])
        return self.dispensations

    async def _write(self, rows: RegistryChunk) -> None:
        database = self.context.database
        await insert_batch(database, [(PATIENTS, rows.patients)])
        for table, table_rows in ((PRESCRIPTIONS, rows.prescriptions), (DISPENSATIONS, rows.dispensations)):
            for batch in batches(table_rows):
                await insert_batch(database, [(table, batch)])
        await insert_batch(database, [(TITRATION_STEPS, rows.steps)])
        subjects = rows.subjects

        def subject(rng: random.Random) -> tuple[int, str]:
            return rng.choice(subjects)

        plan = CasePlan(
            count=max(1, len(rows.patients) // CASE_SHARE),
            subject=subject,
            reporters=self.reporters,
            reactions=self.reactions,
            end=now_utc(),
            seed=self.chunk,
        )
        await insert_cases(database, plan)


@dataclass(frozen=True)
class Measured:
    dispensations: int
    dose: Took
    titration: Took

    @property
    def took(self) -> Took:
        return self.dose + self.titration

    def per_row_us(self, cpu: bool = False) -> float:
        return (self.took.cpu if cpu else self.took.wall) / self.dispensations * 1e6

    def describe(self) -> str:
        return (
            f"{self.dispensations:,} dispensations {self.took.wall:.1f} s (dose {self.dose.wall:.1f} + titration "
            f"{self.titration.wall:.1f}; cpu {self.took.cpu:.1f} s) = {self.per_row_us():.1f} µs/row"
        )

    def details(self, prefix: str) -> dict[str, float | int]:
        return {
            f"{prefix}_dispensations": self.dispensations,
            f"{prefix}_dose_seconds": self.dose.wall,
            f"{prefix}_titration_seconds": self.titration.wall,
            f"{prefix}_cpu_seconds": self.took.cpu,
            f"{prefix}_us_per_row": self.per_row_us(),
        }


async def measure(context: ServiceContext, period: JobPeriod, dispensations: int) -> Measured:
    dose, _ = await timed(lambda: dose_crosscheck(context, period))
    titration, _ = await timed(lambda: titration_crosscheck(context, period))
    return Measured(dispensations, dose, titration)


async def start_registry(context: ServiceContext, today: date) -> GrowingRegistry:
    """Professionals through the importer; the patients come chunk by chunk."""
    professionals = generate_registry(patients=0, today=today, reference=context.reference, settings=context.settings)
    await import_registry(context, professionals)
    users = await scalar_list(context.database, select(User))
    return GrowingRegistry(
        context=context,
        today=today,
        reporters=[(u.rpps, u.role) for u in users if u.role in ("prescriber", "pharmacist")],
        reactions=sorted(context.reference.reactions),
    )


def projected_seconds(large: Measured) -> float | None:
    """At a size below SPEC's, the time at SPEC's size if the per-row time stayed flat."""
    spec = SPEC_SIZES["dispensations"]
    return None if large.dispensations >= spec else large.per_row_us() * spec / 1e6


def scaled_note(large: Measured) -> str:
    projected = projected_seconds(large)
    if projected is None:
        return f"at {large.dispensations:,}"
    spec = SPEC_SIZES["dispensations"]
    return f"at {large.dispensations:,}, scaled: the target is for {spec:,}, linear projection {projected:.0f} s"


async def crosschecks_figure(settings: Settings, sizes: Sizes) -> FigureResult:
    today = now_utc().astimezone(settings.zone).date()
    period = latest_complete("day", today)
    context = await open_context(settings)
    try:
        registry = await start_registry(context, today)
        small = await measure(context, period, await registry.grow_to(min(SMALL_DISPENSATIONS, sizes.dispensations)))
        large = await measure(context, period, await registry.grow_to(sizes.dispensations))
        if sizes.profile_dir is not None:
            await profiled(sizes.profile_dir / "crosscheck-dose", lambda: dose_crosscheck(context, period))
            await profiled(sizes.profile_dir / "crosscheck-titration", lambda: titration_crosscheck(context, period))
    finally:
        await context.database.dispose()
    seconds = Measure("large_size_seconds", large.took.wall, "s", "<=", TARGET_SECONDS)
    small_rate = Reference(f"per-row time at {small.dispensations:,} dispensations", small.per_row_us(), "µs/row")
    ratio = Measure("per_row_ratio", large.per_row_us() / small_rate.value, "×", "<=", TARGET_RATIO, small_rate)
    cpu_ratio = large.per_row_us(cpu=True) / small.per_row_us(cpu=True)
    measures = (seconds, ratio)
    line = (
        f"dose + titration cross-checks, period {period.key}: {small.describe()}; {large.describe()}; "
        f"per-row ratio {ratio.value:.2f} (cpu {cpu_ratio:.2f}; target <= {ratio.target}); "
        f"large size {seconds.value:.1f} s (target <= {seconds.target:.0f} s; {scaled_note(large)}) "
        f"{verdict(gates_met(measures))}"
    )
    return FigureResult(
        figure="crosschecks",
        line=line,
        size={"dispensations": large.dispensations, "small_dispensations": small.dispensations},
        spec_size={"dispensations": SPEC_SIZES["dispensations"], "small_dispensations": SMALL_DISPENSATIONS},
        measures=measures,
        details={
            "period": period.key,
            **small.details("small"),
            **large.details("large"),
            "cpu_per_row_ratio": cpu_ratio,
            "projected_seconds_at_spec_size": projected_seconds(large),
        },
    )
