"""Times the weekly digest and its reference in a process of its own, so that the peak memory measured
is the digest's and not the seeding's (SPEC §14: the rise of peak RSS over the RSS before the run; the
peak is VmHWM, reset just before the runs, see ``common.peak_rss_mb``).

Run by figure_digest: ``python bench/digest_probe.py --database-url URL --week 2026-W47``; prints one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import msgspec
from common import median, open_context, peak_rss_mb, profiled, reset_peak_rss, rss_mb, timed
from sqlalchemy import func, select

from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.digests.service import build_digest
from pv_service.jobs.periods import JobPeriod, parse_period
from pv_service.storage.models import Case


class ProbeResult(msgspec.Struct, frozen=True):
    digest_seconds: float
    reference_seconds: float
    rss_before_mb: float
    peak_rss_mb: float
    pairs: int
    received: int


async def grouped_count(context: ServiceContext) -> list[Any]:
    """SPEC §14's reference: one count(*) grouped by suspect product over the cases."""
    async with context.database.read_session() as session:
        return list(await session.execute(select(Case.product, func.count()).group_by(Case.product)))


async def measure(context: ServiceContext, period: JobPeriod, repeat: int) -> ProbeResult:
    """Median of ``repeat`` runs each, alternating, after one reference run that warms the file cache."""
    await grouped_count(context)
    reset_peak_rss()
    before = rss_mb()
    digest_times, reference_times = [], []
    for _ in range(repeat):
        took, digest = await timed(lambda: build_digest(context, period))
        digest_times.append(took.wall)
        reference_times.append((await timed(lambda: grouped_count(context)))[0].wall)
    return ProbeResult(
        digest_seconds=median(digest_times),
        reference_seconds=median(reference_times),
        rss_before_mb=before,
        peak_rss_mb=peak_rss_mb(),
        pairs=len(digest.pairs),
        received=digest.totals.received,
    )


async def probe(url: str, week: str, repeat: int, profile: Path | None) -> ProbeResult:
    context = await open_context(Settings(database_url=url, scheduler_enabled=False), migrate=False)
    try:
        period = parse_period("week", week)
        result = await measure(context, period, repeat)
        if profile is not None:
            await profiled(profile, lambda: build_digest(context, period))
        return result
    finally:
        await context.database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--week", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None)
    arguments = parser.parse_args()
    result = asyncio.run(probe(arguments.database_url, arguments.week, arguments.repeat, arguments.profile))
    sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")


if __name__ == "__main__":
    main()
