"""[queue] The triage queue's first page (SPEC §9: p99 ≤ 20 ms at 1 M cases).

Cases are received over two years and most older ones are closed, as in a working PV centre, so the
first page has to find the open cases among the closed ones the way the real queue would.
"""

from __future__ import annotations

import time
from datetime import datetime

from common import (
    SPEC_SIZES,
    FigureResult,
    Measure,
    Sizes,
    at_size,
    gates_met,
    open_context,
    percentile,
    profiled,
    verdict,
)
from seed import CasePlan, Weighted, import_registry, insert_cases, now_utc, random_subject, scalar_list
from sqlalchemy import func, select

from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.demo_data import generate_registry
from pv_service.rules.workflow import FINISHED
from pv_service.storage.models import Case, Patient, User
from pv_service.triage.schemas import QueueFilters
from pv_service.triage.service import queue_page

CALLS = 200
WARMUP_CALLS = 20
PAGE = 50
TARGET_P99_MS = 20.0
REGISTRY_PATIENTS = 200
# Oils are prescribed far more than flowers.
PRODUCT_WEIGHTS = {"OIL-T10": 25, "OIL-T5C5": 30, "OIL-T1C20": 20, "OIL-C50": 5, "FLOWER-T18": 8, "FLOWER-T10C10": 8}


async def seed_cases(context: ServiceContext, count: int, end: datetime) -> None:
    """A small registry through the importer (users and patients for the foreign keys), then the cases."""
    await import_registry(
        context,
        generate_registry(
            patients=REGISTRY_PATIENTS, today=end.date(), reference=context.reference, settings=context.settings
        ),
    )
    patients = await scalar_list(context.database, select(Patient.id))
    users = await scalar_list(context.database, select(User).where(User.role.in_(("prescriber", "pharmacist"))))
    products = [code for code in context.reference.products if code in PRODUCT_WEIGHTS] or list(
        context.reference.products
    )
    plan = CasePlan(
        count=count,
        subject=random_subject(patients, Weighted([(p, PRODUCT_WEIGHTS.get(p, 1)) for p in products])),
        reporters=[(u.rpps, u.role) for u in users],
        reactions=sorted(context.reference.reactions),
        end=end,
        zone=context.settings.zone,
    )
    await insert_cases(context.database, plan)


async def open_share(context: ServiceContext) -> float:
    async with context.database.read_session() as session:
        total = await session.scalar(select(func.count()).select_from(Case))
        waiting = await session.scalar(select(func.count()).where(Case.state.not_in(FINISHED)))
    return (waiting or 0) / max(1, total or 0)


async def time_first_pages(context: ServiceContext) -> list[float]:
    """Milliseconds of each first-page call, after a warm-up that fills the connection pool and caches."""
    for _ in range(WARMUP_CALLS):
        await queue_page(context, QueueFilters(), None, PAGE, False)
    latencies = []
    for _ in range(CALLS):
        started = time.perf_counter()
        page = await queue_page(context, QueueFilters(), None, PAGE, False)
        latencies.append((time.perf_counter() - started) * 1000)
        assert len(page.items) == PAGE, "the queue should have a full first page"
    return latencies


async def queue_figure(settings: Settings, sizes: Sizes) -> FigureResult:
    context = await open_context(settings)
    try:
        await seed_cases(context, sizes.queue_cases, now_utc())
        share = await open_share(context)
        latencies = await time_first_pages(context)
        if sizes.profile_dir is not None:
            await profiled(
                sizes.profile_dir / "queue",
                lambda: queue_page(context, QueueFilters(), None, PAGE, False),
                times=CALLS,
            )
    finally:
        await context.database.dispose()
    p50 = percentile(latencies, 0.50)
    p99 = Measure("first_page_p99", percentile(latencies, 0.99), "ms", "<=", TARGET_P99_MS)
    measures = (p99,)
    line = (
        f"queue first page at {at_size(sizes.queue_cases, SPEC_SIZES['queue_cases'])} cases ({share:.0%} open): "
        f"{CALLS} calls p50 {p50:.1f} ms, p99 {p99.value:.1f} ms (target p99 <= {p99.target:.0f} ms) "
        f"{verdict(gates_met(measures))}"
    )
    return FigureResult(
        figure="queue",
        line=line,
        size={"cases": sizes.queue_cases},
        spec_size={"cases": SPEC_SIZES["queue_cases"]},
        measures=measures,
        details={"calls": CALLS, "p50_ms": p50, "open_share": share},
    )
