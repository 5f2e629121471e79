"""Intake's group commit on a real database: reports that arrive while a write transaction runs are stored
together in the next one, whole, numbered in turn, and linked to each other as possible duplicates."""

from __future__ import annotations

import asyncio

import msgspec
from conftest import PRESCRIBER, Tokens, until
from report_bodies import report
from sqlalchemy import event, func, select

from pv_service.cases import service
from pv_service.cases.schemas import CaseAnswer
from pv_service.config import Settings
from pv_service.context import open_context
from pv_service.rules.report_body import ReportBody
from pv_service.storage.models import AuditEntry, Case, CaseLink, CaseReaction, CaseVersion, Patient
from pv_service.users.schemas import Caller


async def test_reports_arriving_during_a_write_are_stored_together_and_linked_as_possible_duplicates(
    settings: Settings, registry: Tokens
) -> None:
    caller = Caller(rpps=PRESCRIBER, role="prescriber")
    body = msgspec.convert(report(), ReportBody)
    async with open_context(settings) as context:
        commits: list[int] = []
        event.listen(context.database.engine.sync_engine, "commit", lambda _connection: commits.append(1))

        def send() -> asyncio.Task[CaseAnswer]:
            return asyncio.create_task(service.submit_report(context, caller, body, None))

        # Hold what the first report's write needs: SQLite's writer, or the patient's row on PostgreSQL.
        async with context.database.session() as holder, holder.begin():
            await holder.execute(select(Patient.id).where(Patient.registry_id == "RC-000123").with_for_update())
            first = send()
            await until(lambda: context.report_writes.writing == 1)
            later = [send() for _ in range(3)]
            await until(lambda: context.report_writes.waiting == 3)
            commits.clear()
            await holder.rollback()
        answered = [msgspec.json.decode((await task).body) for task in (first, *later)]
        # The three that waited are written in the order their checks finished.
        answers = sorted(answered, key=lambda answer: answer["id"])

        assert len(commits) == 2, "the first report's transaction, then one for the three that waited"
        numbers = [int(answer["case_number"][-6:]) for answer in answers]
        assert numbers == list(range(numbers[0], numbers[0] + 4))
        ids = [answer["id"] for answer in answers]
        for index, answer in enumerate(answers):
            assert [ref["id"] for ref in answer["possible_duplicates"]] == ids[:index]
        async with context.database.read_session() as session:
            for table in (Case, CaseVersion, CaseReaction):
                assert await session.scalar(select(func.count()).select_from(table)) == 4
            created = await session.scalars(select(AuditEntry.entity_id).where(AuditEntry.action == "case.create"))
            assert sorted(int(entity) for entity in created) == sorted(ids)
            # Links go both ways: the first case names the three sent after it.
            linked = await session.scalars(select(CaseLink.other_case_id).where(CaseLink.case_id == ids[0]))
            assert sorted(linked) == ids[1:]
