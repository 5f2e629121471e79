"""The digest from its kept counts against the digest counted case by case (SPEC §6, §14, §15).

A generated case base — products of every ratio class, patients of several indications, cases on the
Paris midnights that bound the weeks and a microsecond before them, across a change to summer time,
duplicate and nullified cases, uncoded reactions and a code reported twice in one case, cases after
the week — is written to the database; the expected digest is counted here from the same cases in
Python, one case at a time, with the statistics of ``rules.disproportionality``. The cases are written in
bulk, then counted with ``digests.counts.count_cases``, as the bench's seeding does.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from conftest import PRESCRIBER, Tokens
from sqlalchemy import insert

from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.digests import counts
from pv_service.digests.schemas import DigestPair, RisingPair
from pv_service.digests.service import build_digest
from pv_service.jobs.periods import parse_period
from pv_service.rules.disproportionality import Table2x2, mantel_haenszel, measure, rise
from pv_service.rules.priority import PRIORITIES
from pv_service.rules.workflow import SET_ASIDE, is_overdue
from pv_service.storage.database import Database
from pv_service.storage.models import Case, CaseReaction, Patient

PARIS = ZoneInfo("Europe/Paris")
# Its 12 weeks back cross the change to summer time of Sunday 30 March 2025.
WEEK = parse_period("week", "2025-W15")
PRODUCTS = {"OIL-T10": "thc_dominant", "FLOWER-T18": "thc_dominant", "OIL-T5C5": "balanced", "OIL-C50": "cbd_dominant"}
INDICATIONS = ("neuropathic_pain", "epilepsy", "spasticity")
CODES = ("somnolence", "dizziness", "headache", "seizure", "anxiety")
STATES = ("received", "in_triage", "assessed", "closed", "closed", "duplicate", "nullified")
# Above the ids of the registry fixture's patients.
FIRST_PATIENT = 1000
PATIENTS = 30


@dataclass(frozen=True)
class GeneratedCase:
    id: int
    patient_id: int
    product: str
    received_at: datetime
    state: str
    priority: str
    forwarded_at: datetime | None
    triage_due: datetime
    forward_due: datetime
    codes: tuple[str | None, ...]

    @property
    def serious(self) -> bool:
        return self.priority in ("P1", "P2", "P3")


def local_monday(back: int) -> datetime:
    return datetime.combine(WEEK.first - timedelta(weeks=back), time(0), tzinfo=PARIS).astimezone(UTC)


def generated_cases(rng: random.Random) -> list[GeneratedCase]:
    """Cases over 20 weeks before the digest's week end and one after it, some on the week boundaries."""
    end = local_monday(-1)
    start = end - timedelta(weeks=20)
    instants = [start + (end + timedelta(weeks=1) - start) * rng.random() for _ in range(420)]
    instants += [local_monday(back) + shift for back in range(-1, 14) for shift in (timedelta(0), -timedelta(0, 0, 1))]
    cases = []
    for case_id, received in enumerate(sorted(instants), 1):
        codes = tuple(rng.choice((*CODES, None)) for _ in range(rng.choice((1, 1, 1, 2, 3))))
        forwarded = received + timedelta(days=rng.randint(1, 30)) if rng.random() < 0.5 else None
        cases.append(
            GeneratedCase(
                id=case_id,
                patient_id=rng.randrange(FIRST_PATIENT, FIRST_PATIENT + PATIENTS),
                product=rng.choice(list(PRODUCTS)),
                received_at=received,
                state=rng.choice(STATES),
                priority=rng.choice(PRIORITIES),
                forwarded_at=forwarded,
                triage_due=received + timedelta(days=rng.choice((1, 7))),
                forward_due=received + timedelta(days=rng.choice((15, 90))),
                codes=codes,
            )
        )
    # Codes of their own: syncope on OIL-C50 six times this week, from its first instant to its last, twice
    # in the 12 weeks before, at their first and last instants, and once just after the week (a new signal
    # that rises); tachycardia on OIL-T10 five times eight weeks back (a signal before and now). Each code
    # given twice in its case.
    instant = timedelta(microseconds=1)
    syncope = [local_monday(0), local_monday(-1) - instant, local_monday(0) - instant, local_monday(12)]
    syncope += [local_monday(0) + timedelta(hours=10 + 20 * n) for n in range(4)] + [local_monday(-1)]
    clusters = [("OIL-C50", "syncope", received) for received in syncope]
    clusters += [("OIL-T10", "tachycardia", local_monday(8) + timedelta(days=n)) for n in range(5)]
    for offset, (product, code, received) in enumerate(clusters, len(cases) + 1):
        cases.append(
            GeneratedCase(
                id=offset, patient_id=FIRST_PATIENT, product=product, received_at=received, state="assessed",
                priority="P4", forwarded_at=None, triage_due=received, forward_due=received + timedelta(days=90),
                codes=(code, code),
            )
        )  # fmt: skip
    return cases


def case_row(case: GeneratedCase) -> dict[str, Any]:
    return {
        "id": case.id, "case_number": f"PV-2025-{case.id:06d}", "patient_id": case.patient_id,
        "reporter_rpps": PRESCRIBER, "reporter_role": "prescriber", "received_at": case.received_at,
        "received_week": counts.local_monday(case.received_at, PARIS),
        "serious_since": case.received_at if case.serious else None, "updated_at": case.received_at,
        "version": 1, "revision": 1, "state": case.state, "serious": case.serious, "expected": True,
        "priority": case.priority, "criteria": [], "suggested_criteria": [], "triage_due": case.triage_due,
        "forward_due": case.forward_due, "completeness": 1.0, "missing": [], "warnings": [],
        "product": case.product, "daily_thc_mg": None, "daily_cbd_mg": None, "special_situations": [],
        "assignee": None, "forwarded_at": case.forwarded_at, "forward_destination": None,
        "forward_reference": None, "duplicate_of": None, "nullification_reason": None,
    }  # fmt: skip


def reaction_rows(case: GeneratedCase) -> list[dict[str, Any]]:
    return [
        {"case_id": case.id, "position": position, "text": code or "malaise", "code": code, "onset_date": None,
         "end_date": None, "outcome": None, "criteria": [], "expected": True, "staff_criteria": None,
         "who_umc": None, "chronology": None, "semiology": None, "intrinsic_score": None}
        for position, code in enumerate(case.codes)
    ]  # fmt: skip


def patient_row(patient_id: int) -> dict[str, Any]:
    return {
        "id": patient_id, "registry_id": f"GEN-{patient_id:04d}", "birth_year": 1970, "birth_year_band": None,
        "pseudonymised_at": None, "sex": "F", "indication": INDICATIONS[patient_id % len(INDICATIONS)],
        "reference_structure": None, "inclusion_date": date(2022, 1, 3), "reference_prescriber": PRESCRIBER,
        "city_doctor": None, "pharmacist": None, "registry_consent": True, "nir_consent": False,
        "legal_status": "adult",
    }  # fmt: skip


async def write(database: Database, cases: list[GeneratedCase]) -> None:
    patients = range(FIRST_PATIENT, FIRST_PATIENT + PATIENTS)
    async with database.session() as session, session.begin():
        await session.execute(insert(Patient), [patient_row(n) for n in patients])
        await session.execute(insert(Case), [case_row(case) for case in cases])
        await session.execute(insert(CaseReaction), [row for case in cases for row in reaction_rows(case)])
        await counts.count_cases(session, [case.id for case in cases])


# --- the digest counted one case at a time --------------------------------------------------------------


def indication(case: GeneratedCase) -> str:
    return INDICATIONS[case.patient_id % len(INDICATIONS)]


def coded(case: GeneratedCase) -> set[str]:
    return {code for code in case.codes if code is not None}


def table(cases: list[GeneratedCase], group: Callable[[str], str], key: tuple[str, str]) -> Table2x2:
    a = sum(1 for c in cases if group(c.product) == key[0] and key[1] in coded(c))
    with_group = sum(1 for c in cases if group(c.product) == key[0])
    with_code = sum(1 for c in cases if key[1] in coded(c))
    return Table2x2(a=a, b=with_group - a, c=with_code - a, d=len(cases) - with_group - with_code + a)


def expected_pairs(population: list[GeneratedCase]) -> list[DigestPair]:
    """Every level and window: the pairs with a case now, ``new`` against the window one week earlier, and the
    product level's Mantel-Haenszel ROR over one table per indication."""

    def received(first: datetime | None, last: datetime) -> list[GeneratedCase]:
        return [c for c in population if (first is None or c.received_at >= first) and c.received_at < last]

    windows = {
        "cumulative": (received(None, local_monday(-1)), received(None, local_monday(0))),
        "last_12_weeks": (received(local_monday(11), local_monday(-1)), received(local_monday(12), local_monday(0))),
    }
    levels: dict[str, Callable[[str], str]] = {"product": lambda product: product, "ratio": PRODUCTS.__getitem__}
    result = []
    for level, group in levels.items():
        for window, (now, before) in windows.items():
            keys = sorted({(group(c.product), code) for c in now for code in coded(c)})
            for key in keys:
                cells = table(now, group, key)
                stats = measure(cells)
                new = stats.signal and not measure(table(before, group, key)).signal
                strata = [[c for c in now if indication(c) == name] for name in sorted(INDICATIONS)]
                pooled = mantel_haenszel([table(stratum, group, key) for stratum in strata])
                mh = (pooled.ror, pooled.lower, pooled.upper) if level == "product" else (None, None, None)
                result.append(
                    DigestPair(
                        level=level, window=window, product=key[0], reaction=key[1], **dataclasses.asdict(cells),
                        **msgspec.structs.asdict(stats), new=new, ror_mh=mh[0], ror_mh_lower=mh[1], ror_mh_upper=mh[2],
                    )
                )  # fmt: skip
    return result


def expected_rising(population: list[GeneratedCase]) -> list[RisingPair]:
    def count(product: str, code: str, back: int) -> int:
        week = [c for c in population if local_monday(back) <= c.received_at < local_monday(back - 1)]
        return sum(1 for c in week if c.product == product and code in coded(c))

    result = []
    for product, code in sorted({(c.product, code) for c in population for code in coded(c)}):
        judged = rise(count(product, code, 0), [count(product, code, back) for back in range(1, 13)])
        if judged.rising:
            fields = {name: getattr(judged, name) for name in ("count", "baseline_mean", "threshold", "p_value")}
            result.append(RisingPair(product=product, reaction=code, **fields))
    return result


def tally(cases: Iterable[GeneratedCase], key: Callable[[GeneratedCase], str]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for case in cases:
        counted[key(case)] = counted.get(key(case), 0) + 1
    return counted


async def test_the_digest_from_kept_counts_equals_the_digest_counted_case_by_case(
    settings: Settings, database: Database, registry: Tokens
) -> None:
    rng = random.Random(12)
    cases = generated_cases(rng)
    await write(database, cases)
    context = ServiceContext.from_settings(settings)
    try:
        digest = await build_digest(context, WEEK)
    finally:
        await context.close()

    end = local_monday(-1)
    population = [c for c in cases if c.state not in SET_ASIDE and c.received_at < end]
    week = [c for c in population if c.received_at >= local_monday(0)]
    totals = digest.totals
    assert (totals.received, totals.serious) == (len(week), sum(c.serious for c in week))
    assert totals.by_priority == dict.fromkeys(PRIORITIES, 0) | tally(week, lambda c: c.priority)
    assert totals.by_indication == tally(week, indication)
    assert totals.by_product == tally(week, lambda c: c.product)
    overdue = [
        c
        for c in population
        if is_overdue(
            state=c.state, forwarded_at=c.forwarded_at, forward_due=c.forward_due, triage_due=c.triage_due, at=end
        )
    ]
    assert totals.overdue == len(overdue) and totals.anomalies == 0
    assert digest.pairs == expected_pairs(population)
    assert digest.rising == expected_rising(population)
    # The data reach every branch: signals new this week, pooled RORs, a rise, all levels and windows.
    assert any(p.new for p in digest.pairs) and any(p.signal and not p.new for p in digest.pairs)
    assert any(p.ror_mh is not None for p in digest.pairs)
    assert ("OIL-C50", "syncope") in [(r.product, r.reaction) for r in digest.rising]
    assert {(p.level, p.window) for p in digest.pairs} == {
        (level, window) for level in ("product", "ratio") for window in ("cumulative", "last_12_weeks")
    }
