"""Intake and follow-ups take any body the way SPEC §3, §7, §13 and §14 say, and never leave half a case.

Bodies come from the report's JSON Schema (``tests/report_strategies.py``): valid reports with parts redrawn,
bodies drawn from the schema alone, and either with a part the schema refuses. For each, the answer is the one
the precedence of SPEC §14 names, as far as the body alone decides it: 413 over the size limit; then for
intake 404 for a patient outside reach (read before the shape), 400 for a body the schema refuses, else 201
or 422; for a follow-up 412 for a stale If-Match, 400 for a body the schema refuses (or 404 when it names
another patient), 404 for another patient, else 201 or 422. Every refusal is problem details whose ``errors``
name parts of the body the schema declares. After each example, every case in the database is whole (its
versions 1…n, its reactions, its creation and follow-ups audited), and exactly one case more exists after a 201
to intake, none after anything else.

Hypothesis shares the test's fixtures (the app, its database, the registry) across the examples of a test, on
purpose: each example judges what it changed against the state just before it, and the cases of earlier
examples stay under the invariant. ``PV_TEST_EXHAUSTIVE=1`` runs five times the examples;
``--hypothesis-show-statistics`` shows how often each status was answered.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import date, timedelta
from typing import Any

import httpx
from conftest import PRESCRIBER, Tokens
from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from report_bodies import reaction, report
from report_strategies import REACHABLE_PATIENT, SCHEMA, accepts, parse_field, report_bodies, schema_at
from sqlalchemy import func, select

from pv_service.config import Settings
from pv_service.storage.database import Database
from pv_service.storage.models import AuditEntry, Case, CaseReaction, CaseVersion

REPORTS = "/api/v1/reports"
# The registry's patient RC-000123 was included on 2022-05-03 (tests/conftest.py).
FIRST_ONSET = date(2022, 5, 10)
EXAMPLES = 1000 if os.environ.get("PV_TEST_EXHAUSTIVE") else 200
FUZZING = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    # The fixtures are shared across examples on purpose (see the module docstring); drawing long strings on
    # a loaded machine is slow, which says nothing of the service.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# SPEC §14's list of error codes.
ERROR_CODES = {
    "invalid_type", "invalid_value", "unknown_field", "out_of_range", "too_long", "missing_element",
    "future_date", "onset_before_inclusion", "end_before_onset", "death_date_without_death",
    "implausible_pregnancy", "unknown_product", "unknown_reaction_code", "personal_identifier",
    "patient_withdrawn", "patient_changed", "profession_mismatch", "outside_inclusion_window",
    "secure_mismatch", "duration_exceeds_28_days", "dispensation_outside_prescription",
    "experimentation_ended", "unknown_reference", "idempotency_key_reused", "period_incomplete",
    "reaction_removed",
}  # fmt: skip


def encoded(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def named_patient(body: Any) -> str | None:
    """The registry id a body names, read as the service reads it before judging the shape."""
    patient = body.get("patient") if isinstance(body, dict) else None
    registry_id = patient.get("registry_id") if isinstance(patient, dict) else None
    return registry_id if isinstance(registry_id, str) and registry_id else None


def intake_status(body: Any, limit: int) -> set[int]:
    """The answers SPEC §14's precedence allows intake to give ``body``, from the prescriber."""
    if len(encoded(body)) > limit:
        return {413}
    if named_patient(body) not in (None, REACHABLE_PATIENT):
        return {404}
    if not accepts(SCHEMA, body):
        return {400}
    return {201, 422}


def follow_up_status(body: Any, limit: int, *, stale: bool) -> set[int]:
    """The answers SPEC §14 allows a follow-up with ``body`` to give, on the prescriber's case."""
    if stale:
        return {412}
    if len(encoded(body)) > limit:
        return {413}
    another_patient = named_patient(body) not in (None, REACHABLE_PATIENT)
    if not accepts(SCHEMA, body):
        # SPEC §14 puts a patient outside reach before the shape; a follow-up's body is judged whole, so its
        # patient may come second.
        return {400, 404} if another_patient else {400}
    return {404} if another_patient else {201, 422}


def check_problem(response: httpx.Response) -> None:
    """Problem details; a 400 or 422 names each error's field as a part of the body the schema declares (an
    undeclared property's parent, for ``unknown_field``) and gives one of SPEC §14's codes."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    problem = response.json()
    assert problem["status"] == response.status_code and problem["title"] and problem["type"], problem
    assert isinstance(problem["errors"], list), problem
    if response.status_code not in (400, 422):
        return
    assert problem["errors"], problem
    for error in problem["errors"]:
        assert error["code"] in ERROR_CODES and error["message"], error
        # The service names the document as a whole ``body`` (no property of a report has that name).
        place = () if error["field"] == "body" else parse_field(error["field"])
        declared = place[:-1] if error["code"] == "unknown_field" else place
        assert schema_at(declared) is not None, error


async def cases_are_whole(database: Database) -> dict[int, int]:
    """Asserts that every case has its versions 1…n, its reactions at positions 0…m−1 (at least one unless it
    reports special situations), one creation and n−1 follow-ups in the audit log; returns each case's n."""
    async with database.read_session() as session:
        cases = {row.id: row for row in await session.execute(select(Case.id, Case.version, Case.special_situations))}
        versions = await session.execute(
            select(CaseVersion.case_id, func.count(), func.min(CaseVersion.version), func.max(CaseVersion.version))
            .group_by(CaseVersion.case_id)
        )  # fmt: skip
        reactions = await session.execute(
            select(CaseReaction.case_id, func.count(), func.max(CaseReaction.position)).group_by(CaseReaction.case_id)
        )
        audited = await session.execute(
            select(AuditEntry.entity_id, AuditEntry.action, func.count())
            .where(AuditEntry.entity == "case", AuditEntry.action.in_(("case.create", "case.follow_up")))
            .group_by(AuditEntry.entity_id, AuditEntry.action)
        )  # fmt: skip
        versions_of = {case_id: (count, low, high) for case_id, count, low, high in versions}
        reactions_of = {case_id: (count, last) for case_id, count, last in reactions}
        audit_of = Counter({(int(entity_id), action): count for entity_id, action, count in audited})
    assert set(versions_of) <= set(cases) and set(reactions_of) <= set(cases)
    for case_id, case in cases.items():
        assert versions_of.get(case_id) == (case.version, 1, case.version), (case_id, versions_of.get(case_id))
        count, last = reactions_of.get(case_id, (0, None))
        assert count >= 1 or case.special_situations, (case_id, "no reaction")
        assert count == 0 or last == count - 1, (case_id, count, last)
        assert audit_of[case_id, "case.create"] == 1, (case_id, "creation not audited once")
        assert audit_of[case_id, "case.follow_up"] == case.version - 1, (case_id, "follow-ups not audited")
    return {case_id: case.version for case_id, case in cases.items()}


async def stored_reactions_match_last_version(database: Database, case_id: int) -> None:
    """The case's reactions are those of its latest version, one for one."""
    async with database.read_session() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        body = await session.scalar(
            select(CaseVersion.body).where(CaseVersion.case_id == case_id, CaseVersion.version == case.version)
        )
        stored = await session.scalar(select(func.count()).where(CaseReaction.case_id == case_id))
    assert stored == len(body["reactions"] or []), (case_id, stored, body["reactions"])


async def post(client: AsyncTestClient, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return await client.post(path, content=encoded(body), headers={**headers, "Content-Type": "application/json"})


# PostgreSQL's text cannot hold U+0000: the search found a 500 for each of these.
NUL_IN_THE_PATIENT = report(patient={"registry_id": "RC-\x00"})
NUL_IN_A_REACTION = report(reactions=[reaction(text="somnolence\x00")])


@FUZZING
@given(body=report_bodies())
@example(body=NUL_IN_THE_PATIENT)
@example(body=NUL_IN_A_REACTION)
async def test_intake_answers_any_body_as_documented_and_never_leaves_half_a_case(
    client: AsyncTestClient, registry: Tokens, database: Database, settings: Settings, body: Any
) -> None:
    before = await cases_are_whole(database)
    response = await post(client, REPORTS, body, registry.headers(PRESCRIBER))
    event(f"intake answered {response.status_code}")
    assert response.status_code in intake_status(body, settings.max_body_bytes), (
        response.status_code,
        response.text,
        body,
    )
    after = await cases_are_whole(database)
    if response.status_code == 201:
        created = response.json()
        assert set(after) - set(before) == {created["id"]} and after[created["id"]] == created["version"] == 1
        assert response.headers["etag"]
        await stored_reactions_match_last_version(database, created["id"])
    else:
        check_problem(response)
        assert after == before


@FUZZING
@given(
    body=report_bodies(),
    if_match=st.sampled_from(["current", "current", "absent", "stale"]),
    week=st.integers(0, (date.today() - FIRST_ONSET).days // 7),
)
@example(body=NUL_IN_THE_PATIENT, if_match="current", week=0)
@example(body=NUL_IN_A_REACTION, if_match="current", week=0)
async def test_a_follow_up_answers_any_body_as_documented_and_keeps_the_case_whole(
    client: AsyncTestClient,
    registry: Tokens,
    database: Database,
    settings: Settings,
    body: Any,
    if_match: str,
    week: int,
) -> None:
    headers = registry.headers(PRESCRIBER)
    # Each example's case has an onset of its own, so that they are not all possible duplicates of each other.
    onset = (FIRST_ONSET + timedelta(weeks=week)).isoformat()
    created = await post(client, REPORTS, report(reactions=[reaction(onset_date=onset)]), headers)
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    before = await cases_are_whole(database)
    precondition = {"current": {"If-Match": created.headers["etag"]}, "absent": {}, "stale": {"If-Match": '"0.0"'}}
    response = await post(client, f"{REPORTS}/{case_id}/follow-ups", body, {**headers, **precondition[if_match]})
    event(f"follow-up answered {response.status_code}")
    allowed = follow_up_status(body, settings.max_body_bytes, stale=if_match == "stale")
    assert response.status_code in allowed, (response.status_code, response.text, body)
    after = await cases_are_whole(database)
    if response.status_code == 201:
        assert response.json()["version"] == 2 and response.headers["etag"] != created.headers["etag"]
        assert after == {**before, case_id: 2}
        await stored_reactions_match_last_version(database, case_id)
    else:
        check_problem(response)
        assert after == before
