"""[digest] The weekly signal digest (SPEC §9: ≤ 10 s, ≤ 5 × one grouped count, peak memory ≤ 300 MB at
1 M cases over 100 k patients).

Cases are spread over two years with products and reaction codes from the reference data, each product
favouring a few reactions, so the digest has real pairs to compute. The timing and the memory are taken
in a fresh subprocess (digest_probe.py).
"""

from __future__ import annotations

import asyncio
import sys

import msgspec
from common import (
    BENCH_DIR,
    SPEC_SIZES,
    FigureResult,
    Measure,
    Reference,
    Sizes,
    at_size,
    gates_met,
    open_context,
    verdict,
)
from digest_probe import ProbeResult
from seed import (
    CasePlan,
    Weighted,
    import_registry,
    insert_cases,
    insert_patients,
    now_utc,
    random_subject,
    scalar_list,
)
from sqlalchemy import select

from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.demo_data import generate_registry
from pv_service.jobs.periods import JobPeriod, latest_complete
from pv_service.storage.models import User

TARGET_SECONDS = 10.0
TARGET_RATIO = 5.0
TARGET_MEMORY_MB = 300.0
PROFESSIONALS_REGISTRY = 20


async def seed_digest_data(context: ServiceContext, cases: int, patients: int) -> None:
    """Professionals through the importer, then patients and cases in bulk."""
    end = now_utc()
    professionals = generate_registry(
        patients=PROFESSIONALS_REGISTRY, today=end.date(), reference=context.reference, settings=context.settings
    )
    await import_registry(context, professionals)
    users = await scalar_list(context.database, select(User).where(User.role.in_(("prescriber", "pharmacist"))))
    patient_ids = await insert_patients(context, patients, [u.rpps for u in users if u.role == "prescriber"])
    products = sorted(context.reference.products)
    plan = CasePlan(
        count=cases,
        subject=random_subject(patient_ids, Weighted([(p, 1) for p in products])),
        reporters=[(u.rpps, u.role) for u in users],
        reactions=sorted(context.reference.reactions),
        end=end,
        zone=context.settings.zone,
    )
    await insert_cases(context.database, plan)


async def run_probe(settings: Settings, period: JobPeriod, sizes: Sizes) -> ProbeResult:
    command = [sys.executable, str(BENCH_DIR / "digest_probe.py"), "--database-url", settings.database_url]
    command += ["--week", period.key]
    if sizes.profile_dir is not None:
        command += ["--profile", str(sizes.profile_dir / "digest")]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"digest probe failed: {err.decode(errors='replace')[-2000:]}")
    return msgspec.json.decode(out, type=ProbeResult)


async def digest_figure(settings: Settings, sizes: Sizes) -> FigureResult:
    context = await open_context(settings)
    try:
        await seed_digest_data(context, sizes.digest_cases, sizes.digest_patients)
    finally:
        await context.database.dispose()
    period = latest_complete("week", now_utc().astimezone(settings.zone).date())
    result = await run_probe(settings, period, sizes)
    grouped = Reference("one grouped count by product", result.reference_seconds, "s")
    seconds = Measure("digest_seconds", result.digest_seconds, "s", "<=", TARGET_SECONDS)
    ratio = Measure(
        "ratio_to_grouped_count", result.digest_seconds / result.reference_seconds, "×", "<=", TARGET_RATIO, grouped
    )
    memory = Measure("peak_memory_rise", result.peak_rss_mb - result.rss_before_mb, "MB", "<=", TARGET_MEMORY_MB)
    measures = (seconds, ratio, memory)
    size = (
        f"{at_size(sizes.digest_cases, SPEC_SIZES['digest_cases'])} cases / "
        f"{at_size(sizes.digest_patients, SPEC_SIZES['digest_patients'])} patients"
    )
    line = (
        f"weekly digest at {size}, week {period.key} ({result.received} received, {result.pairs} pairs): "
        f"{seconds.value:.2f} s (target <= {seconds.target:.0f} s); grouped count by product "
        f"{grouped.value:.3f} s, ratio {ratio.value:.1f} (target <= {ratio.target:.0f}); peak memory "
        f"+{memory.value:.1f} MB over {result.rss_before_mb:.0f} MB (target <= {memory.target:.0f} MB) "
        f"{verdict(gates_met(measures))}"
    )
    return FigureResult(
        figure="digest",
        line=line,
        size={"cases": sizes.digest_cases, "patients": sizes.digest_patients},
        spec_size={"cases": SPEC_SIZES["digest_cases"], "patients": SPEC_SIZES["digest_patients"]},
        measures=measures,
        details={
            "week": period.key,
            "received": result.received,
            "pairs": result.pairs,
            "rss_before_mb": result.rss_before_mb,
        },
    )
