"""``Case.overdue_at``: the overdue rule of SPEC §15 gives the same answer in SQL as in Python."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from conftest import PRESCRIBER, Tokens
from litestar.testing import AsyncTestClient
from report_bodies import report
from sqlalchemy import select, update

from pv_service.digests import counts
from pv_service.rules.workflow import STATES
from pv_service.storage.database import Database
from pv_service.storage.models import Case

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DUE_DATES = (NOW - timedelta(days=1), NOW + timedelta(days=1))
FORWARDED = (None, NOW - timedelta(days=2), NOW + timedelta(days=2))


async def test_overdue_in_sql_agrees_with_the_rule_for_every_state_and_date(
    client: AsyncTestClient, registry: Tokens, database: Database
) -> None:
    combinations = list(itertools.product(STATES, DUE_DATES, DUE_DATES, FORWARDED))
    ids = []
    for _ in combinations:
        response = await client.post("/api/v1/reports", json=report(), headers=registry.headers(PRESCRIBER))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    # States set directly, as triage would have: the digest's counts follow.
    async with database.session() as session, session.begin(), counts.recounting(session, ids):
        for case_id, (state, triage_due, forward_due, forwarded_at) in zip(ids, combinations, strict=True):
            await session.execute(
                update(Case)
                .where(Case.id == case_id)
                .values(state=state, triage_due=triage_due, forward_due=forward_due, forwarded_at=forwarded_at)
            )
    async with database.read_session() as session:
        in_sql = {row[0]: row[1] for row in await session.execute(select(Case.id, Case.overdue_at(NOW)))}
        in_python = {case.id: case.overdue_at(NOW) for case in await session.scalars(select(Case))}
    assert {case_id: bool(value) for case_id, value in in_sql.items()} == in_python
    overdue_states = {combinations[ids.index(i)][0] for i, value in in_python.items() if value}
    assert "closed" in overdue_states and not overdue_states & {"duplicate", "nullified"}
