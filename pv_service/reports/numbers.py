"""Case numbers ``PV-YYYY-NNNNNN`` (SPEC §14): one counter row per year of receipt, taken inside the case's
own transaction, so numbers are unique under concurrency on both engines; a rolled-back case leaves a gap."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.storage.dialect import upsert_insert
from pv_service.storage.models import CaseCounter

COUNTERS: Table = CaseCounter.__table__  # type: ignore[assignment]


def format_case_number(year: int, number: int) -> str:
    return f"PV-{year}-{number:06d}"


async def next_case_number(session: AsyncSession, year: int) -> str:
    statement = (
        upsert_insert(session, COUNTERS)
        .values(year=year, last=1)
        .on_conflict_do_update(index_elements=[COUNTERS.c.year], set_={"last": COUNTERS.c.last + 1})
        .returning(COUNTERS.c.last)
    )
    number = (await session.execute(statement)).scalar_one()
    return format_case_number(year, number)
