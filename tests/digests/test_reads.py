"""What the digest reads instead of every case or every week (SPEC §9): the overdue count from the cases not
forwarded and those forwarded after the instant, and the weeks before the window as all time less the
weeks from the window on. Each gives what the rule, or the week rows, give one at a time."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta

from conftest import Tokens

from digests.test_counts import FIRST_PATIENT, WEEK, GeneratedCase, generated_cases, local_monday, write
from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.digests import counts, repository
from pv_service.digests.service import digest_bounds
from pv_service.jobs.periods import JobPeriod, parse_period
from pv_service.rules.workflow import STATES, is_overdue
from pv_service.storage.database import Database

AT = local_monday(-1)  # the end of WEEK
DAY = timedelta(days=1)
# Forwarded never, before the instant, at it, after it.
FORWARDED = (None, AT - 2 * DAY, AT, AT + 2 * DAY)
# Received well before the instant, and after it (outside what a digest of that week counts).
RECEIVED = (AT - 30 * DAY, AT + timedelta(hours=1))
PERIODS = [WEEK, parse_period("week", "2025-W14"), parse_period("week", "2025-W16")]


def every_combination() -> list[GeneratedCase]:
    """Each state, due dates on either side of the instant, each forwarding, each receipt; a case still
    received that was forwarded too, which no triage step leads to, is counted by the rule all the same."""
    combinations = itertools.product(STATES, (AT - DAY, AT + DAY), (AT - DAY, AT + DAY), FORWARDED, RECEIVED)
    cases = []
    for case_id, (state, triage_due, forward_due, forwarded, received) in enumerate(combinations, 1):
        cases.append(
            GeneratedCase(
                id=case_id, patient_id=FIRST_PATIENT, product="OIL-T10", received_at=received, state=state,
                priority="P4", forwarded_at=forwarded, triage_due=triage_due, forward_due=forward_due,
                codes=("headache",),
            )
        )  # fmt: skip
    return cases


def overdue(case: GeneratedCase, at: datetime) -> bool:
    due = {"forward_due": case.forward_due, "triage_due": case.triage_due}
    return is_overdue(state=case.state, forwarded_at=case.forwarded_at, at=at, **due)


async def overdue_by_the_digest(settings: Settings, period: JobPeriod) -> int:
    context = ServiceContext.from_settings(settings)
    try:
        async with context.database.read_session() as session:
            return (await repository.totals(session, digest_bounds(context, period))).overdue
    finally:
        await context.close()


async def test_the_overdue_count_is_the_rule_applied_case_by_case_whenever_cases_were_forwarded(
    settings: Settings, database: Database, registry: Tokens
) -> None:
    cases = every_combination()
    await write(database, cases)
    for period in PERIODS:
        end = local_monday((WEEK.first - period.first).days // 7 - 1)
        expected = sum(1 for c in cases if c.received_at < end and overdue(c, end))
        assert await overdue_by_the_digest(settings, period) == expected
    # At the week's end, past triage, a case forwarded after it is overdue and one forwarded by then is not.
    triaged = [c for c in cases if c.received_at < AT and c.state == "closed" and c.forward_due < AT]
    assert {c.forwarded_at: overdue(c, AT) for c in triaged} == {
        None: True,
        AT - 2 * DAY: False,
        AT: False,
        AT + 2 * DAY: True,
    }


async def test_the_weeks_before_the_window_are_the_sum_of_the_old_week_rows(
    settings: Settings, database: Database, registry: Tokens
) -> None:
    await write(database, generated_cases(random.Random(3)))
    async with database.read_session() as session:
        stored = await counts.stored_counts(session)
    context = ServiceContext.from_settings(settings)
    try:
        for period in (WEEK, parse_period("week", "2025-W10")):
            bounds = digest_bounds(context, period)
            async with context.database.read_session() as session:
                read = await repository.digest_counts(session, bounds)
            expected: dict[tuple[str, ...], list[int]] = {}
            for (week, product, indication, code), n in stored.items():
                if week == counts.ALL_TIME or week > bounds.mondays[0]:
                    continue
                key = (product, indication) if code == counts.CASE_ROW else (product, code, indication)
                bucket = bounds.mondays.index(week) if week >= bounds.mondays[-1] else len(bounds.mondays)
                expected.setdefault(key, [0] * (len(bounds.mondays) + 1))[bucket] += n
            assert {**read.products, **read.pairs} == expected
            # Weeks after the digest's are left out; weeks before the window are there to fold.
            assert any(week > bounds.mondays[0] for week, *_ in stored if week != counts.ALL_TIME)
            assert any(counts_[-1] for counts_ in read.products.values())
    finally:
        await context.close()
