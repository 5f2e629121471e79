"""Crash (issue 11): ``pv-service run`` SIGKILLed three times while concurrent clients send reports, then
restarted. Whatever it answered 201 is there whole (reactions, first version, audit entry), nothing is half
written, case numbers stay unique, and a report whose answer was lost, sent again with its key, makes at most
one case.

Each kill falls while the load runs: it waits until the service has acknowledged a batch of reports since
its last start. The figures (kills, reports sent, acknowledged, lost and found) are printed and repeated in
the assertion messages.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import BACKENDS, PHARMACIST, POSTGRES_URL, PRESCRIBER, _create_postgres_database, _drop_postgres_database
from load_generator import ReportLoad, Sent
from service_process import ServiceProcess, service_env, set_up_registry
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from pv_service.config import Settings
from pv_service.storage.models import AuditEntry, Case, CaseCounter, CaseReaction, CaseVersion, IdempotencyKey

pytestmark = pytest.mark.reliability

KILLS = 3
CLIENTS = 16
# Reports the service acknowledges after each start before it is killed: the kill falls under load.
ACKNOWLEDGED_BETWEEN_KILLS = 60
LOAD_DEADLINE_SECONDS = 60.0
# Reports answered 201 sent again with their key: a replay names the same case.
REPLAYED = 16
RPPS = {"prescriber": PRESCRIBER, "pharmacist": PHARMACIST}


@pytest.fixture(params=BACKENDS)
async def database_settings(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, str]]:
    """The service's database settings: none on SQLite (its file in the data folder, as a default install
    has it), a fresh PostgreSQL database's URL otherwise."""
    if request.param == "sqlite":
        yield {}
        return
    assert POSTGRES_URL
    url = await _create_postgres_database(POSTGRES_URL)
    try:
        yield {"DATABASE_URL": url}
    finally:
        await _drop_postgres_database(POSTGRES_URL, url)


@dataclass(frozen=True)
class Stored:
    """What the database holds, read directly with SQLAlchemy (no service code)."""

    cases: dict[int, str]
    reactions: dict[int, list[Any]]
    versions: dict[int, list[Any]]
    creations: dict[int, list[Any]]
    keys: dict[tuple[str, str], int]
    counters: dict[int, int]


async def read_stored(url: str) -> Stored:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as db:
            cases = {row.id: row.case_number for row in await db.execute(select(Case.id, Case.case_number))}
            reactions: dict[int, list[Any]] = defaultdict(list)
            for row in await db.execute(select(CaseReaction).order_by(CaseReaction.case_id, CaseReaction.position)):
                reactions[row.case_id].append(row)
            versions: dict[int, list[Any]] = defaultdict(list)
            for row in await db.execute(select(CaseVersion).order_by(CaseVersion.case_id, CaseVersion.version)):
                versions[row.case_id].append(row)
            creations: dict[int, list[Any]] = defaultdict(list)
            audit = select(AuditEntry).where(AuditEntry.entity == "case", AuditEntry.action == "case.create")
            for row in await db.execute(audit):
                creations[int(row.entity_id)].append(row)
            keys = {(row.user_rpps, row.key): row.case_id for row in await db.execute(select(IdempotencyKey))}
            counters = {row.year: row.last for row in await db.execute(select(CaseCounter))}
    finally:
        await engine.dispose()
    return Stored(cases, reactions, versions, creations, keys, counters)


def _journal_mode(url: str) -> str:
    path = make_url(url).database
    assert path is not None
    with sqlite3.connect(path) as connection:
        return str(connection.execute("PRAGMA journal_mode").fetchone()[0])


async def _until_acknowledged(load: ReportLoad, loading: asyncio.Task[None], count: int) -> None:
    deadline = time.monotonic() + LOAD_DEADLINE_SECONDS
    while load.acknowledged() < count:
        assert not loading.done(), "the load generator stopped"
        statuses = Counter(s.status for s in load.sent)
        assert time.monotonic() < deadline, f"{count} reports not acknowledged in time: {statuses}"
        await asyncio.sleep(0.05)


def _as_stored(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def keyed_case(stored: Stored, sent: Sent) -> int | None:
    """The case stored under ``sent``'s caller and key, if any."""
    return stored.keys.get((RPPS[sent.role], sent.key))


def whole_case_errors(sent: Sent, stored: Stored) -> list[str]:
    """What is missing or different in the database from the report ``sent`` and its 201 answer."""
    case_id, errors = sent.case_id, []
    if stored.cases.get(case_id) != sent.case_number:
        return [f"case {case_id}: number {stored.cases.get(case_id)!r}, answered {sent.case_number!r}"]
    rows = [(r.position, r.text, r.code, r.onset_date, r.end_date, r.outcome) for r in stored.reactions[case_id]]
    expected = [(position, r["text"], r["code"], _as_stored(r["onset_date"]), _as_stored(r["end_date"]), r["outcome"])
                for position, r in enumerate(sent.body["reactions"])]  # fmt: skip
    if rows != expected:
        errors.append(f"case {case_id}: reactions {rows} for {expected}")
    versions = stored.versions[case_id]
    if [(v.version, v.reporter_rpps) for v in versions] != [(1, RPPS[sent.role])]:
        errors.append(f"case {case_id}: versions {[(v.version, v.reporter_rpps) for v in versions]}")
    elif {field: versions[0].body.get(field) for field in sent.body} != sent.body:
        errors.append(f"case {case_id}: version 1 is not the report sent")
    creations = stored.creations[case_id]
    if [(a.actor, a.after["case_number"]) for a in creations] != [(RPPS[sent.role], sent.case_number)]:
        errors.append(f"case {case_id}: audit entries {[(a.actor, a.after) for a in creations]}")
    if keyed_case(stored, sent) != case_id:
        errors.append(f"case {case_id}: its key names case {keyed_case(stored, sent)}")
    return errors


def half_written(stored: Stored) -> list[int]:
    """Cases lacking a reaction, their first version or their creation's audit entry."""
    return sorted(
        case_id
        for case_id in stored.cases
        if not stored.reactions[case_id]
        or [v.version for v in stored.versions[case_id]][:1] != [1]
        or len(stored.creations[case_id]) != 1
    )


def numbering_errors(stored: Stored) -> list[str]:
    """Case numbers shared, malformed, or at or above their year's counter (the next case would reuse one)."""
    errors = [f"{number} is shared" for number, n in Counter(stored.cases.values()).items() if n > 1]
    for number in stored.cases.values():
        prefix, year, serial = number.split("-")
        if prefix != "PV" or len(serial) < 6 or int(serial) > stored.counters.get(int(year), 0):
            errors.append(f"{number} is past its counter {stored.counters.get(int(year))}")
    return errors


async def _send_all(load: ReportLoad, earlier: Iterable[Sent]) -> list[Sent]:
    async with load.http() as http:
        limit = asyncio.Semaphore(CLIENTS)

        async def again(sent: Sent) -> Sent:
            async with limit:
                return await load.resend(http, sent)

        return list(await asyncio.gather(*(again(sent) for sent in earlier)))


async def _read_through_api(base_url: str, token: str, acknowledged: list[Sent]) -> list[str]:
    """Every acknowledged case as PV staff read it: its number, report, reactions and single version."""
    limit = asyncio.Semaphore(CLIENTS)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, headers=headers) as http:

        async def read(sent: Sent) -> str | None:
            async with limit:
                response = await http.get(f"/api/v1/reports/{sent.case_id}")
            if response.status_code != 200:
                return f"case {sent.case_id}: {response.status_code}"
            case = response.json()
            shown = (case["case_number"], {f: case["report"].get(f) for f in sent.body}, len(case["reactions"]),
                     [v["version"] for v in case["versions"]])  # fmt: skip
            if shown != (sent.case_number, sent.body, len(sent.body["reactions"]), [1]):
                return f"case {sent.case_id} reads {shown}"
            return None

        return [error for error in await asyncio.gather(*(read(s) for s in acknowledged)) if error]


async def load_through_kills(server: ServiceProcess, tokens: dict[str, str]) -> ReportLoad:
    """Reports from ``CLIENTS`` clients while the service is SIGKILLed ``KILLS`` times, each time once it has
    acknowledged a batch since its start, and restarted; the load ends with the service up."""
    load = ReportLoad(server.base_url, tokens, clients=CLIENTS)
    stop = asyncio.Event()
    loading = asyncio.create_task(load.run(stop))
    try:
        for _ in range(KILLS):
            await _until_acknowledged(load, loading, load.acknowledged() + ACKNOWLEDGED_BETWEEN_KILLS)
            await asyncio.to_thread(server.kill)
            await asyncio.to_thread(server.start)
        await _until_acknowledged(load, loading, load.acknowledged() + ACKNOWLEDGED_BETWEEN_KILLS)
    finally:
        stop.set()
        await loading
    return load


def one_case_per_key(stored: Stored) -> bool:
    """Every case was made under one key and every key made one case: no report stored twice, none keyless."""
    return sorted(stored.keys.values()) == sorted(stored.cases)


async def test_reports_answered_201_survive_three_sigkills_whole_and_once_each(
    database_settings: dict[str, str], tmp_path: Path
) -> None:
    env = service_env(tmp_path / "data", **database_settings)
    url = Settings.from_env(env).database_url
    tokens = set_up_registry(env, tmp_path)
    server = ServiceProcess(env, tmp_path / "server.log").start()
    try:
        load = await load_through_kills(server, tokens)
        statuses = Counter(s.status for s in load.sent)
        acknowledged = [s for s in load.sent if s.status == 201]
        lost = [s for s in load.sent if s.status is None]
        figures = (f"{KILLS} kills survived; {len(load.sent)} reports sent by {CLIENTS} clients, "
                   f"{len(acknowledged)} acknowledged (201), {len(lost)} answers lost "
                   f"{dict(Counter(s.failure for s in lost))}")  # fmt: skip
        assert set(statuses) <= {201, None}, f"{figures}; answers other than 201: {statuses}, e.g. " + str(
            next(s.failure for s in load.sent if s.status not in (201, None))
        )
        assert (
            len({s.case_id for s in acknowledged}) == len({s.case_number for s in acknowledged}) == len(acknowledged)
        ), f"{figures}; two 201 answers named the same case"

        before = await read_stored(url)
        incomplete = {s.case_id: errors for s in acknowledged if (errors := whole_case_errors(s, before))}
        figures += f"; {len(acknowledged) - len(incomplete)} of the acknowledged found whole"
        assert not incomplete, f"{figures}: {list(incomplete.values())[:10]}"
        assert not half_written(before), f"{figures}; half-written cases: {half_written(before)[:10]}"
        assert not numbering_errors(before), f"{figures}: {numbering_errors(before)[:10]}"
        assert not await _read_through_api(server.base_url, tokens["pv_staff"], acknowledged), figures
        # A lost answer's case may have been stored before the kill: then its key names it.
        stored_unanswered = {s.key: case for s in lost if (case := keyed_case(before, s)) is not None}
        assert one_case_per_key(before), figures
        assert len(before.cases) == len(acknowledged) + len(stored_unanswered), f"{figures}; cases nobody sent"

        # Sent again with their keys: a lost answer's stored case is replayed, else made now; a 201 is replayed.
        replayed = acknowledged[:REPLAYED]
        again = await _send_all(load, lost + replayed)
        assert all(s.status == 201 for s in again), f"{figures}; sent again: {Counter(s.status for s in again)}"
        for first, second in zip(lost, again[: len(lost)], strict=True):
            expected = stored_unanswered.get(first.key)
            if expected is not None:
                assert second.case_id == expected, f"{first.key} named another case when sent again"
            else:
                assert second.case_id not in before.cases, f"{first.key} was answered with an older case"
        for first, second in zip(replayed, again[len(lost) :], strict=True):
            assert (second.case_id, second.case_number) == (first.case_id, first.case_number)
        figures += (f" ({len(stored_unanswered)} of them stored before the kill and replayed, "
                    f"{len(lost) - len(stored_unanswered)} stored on sending again)")  # fmt: skip
        after = await read_stored(url)
        assert one_case_per_key(after), figures
        assert len(after.cases) == len(acknowledged) + len(lost), figures
        assert not half_written(after) and not numbering_errors(after), figures
        if not database_settings:
            assert _journal_mode(url) == "wal"

        cpu = load.cpu_seconds / load.wall_seconds
        figures += f"; load generator {load.cpu_seconds:.1f} s CPU in {load.wall_seconds:.1f} s ({cpu:.0%} of a core)"
        print(f"\n[crash, {'postgresql' if database_settings else 'sqlite'}] {figures}")
        assert cpu < 0.5, f"the load generator took a large share of a core: {figures}"
    finally:
        server.stop()
