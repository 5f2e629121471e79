"""Concurrency on a real server (SPEC §3, §5, §12–§15): no lost update, no duplicate, no deadlock, no 500.

The app is served by uvicorn in a thread of this process (``serving`` of tests/test_schemathesis.py) and one
httpx client fires bursts of requests over as many connections as it has requests in flight, so the
server's transactions really overlap: on PostgreSQL they run side by side on pooled connections and meet
on row locks; on SQLite they queue for the one writer. Every burst is bounded by ``asyncio.wait_for``: a
deadlock fails its test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import Any

import httpx
import pytest
from conftest import ADMIN, PHARMACIST, PRESCRIBER, PV_STAFF, Tokens, ndjson, registry_lines
from report_bodies import reaction, report
from sqlalchemy import func, select
from test_schemathesis import serving

from pv_service.config import Settings
from pv_service.storage.database import Database
from pv_service.storage.models import Case, Patient

REPORTS = "/api/v1/reports"
BURST_SECONDS = 60
RIVALS = 15


@pytest.fixture
async def api(settings: Settings, registry: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app served for real, the small registry imported."""
    with serving(settings) as base_url:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=base_url, timeout=BURST_SECONDS, limits=limits) as client:
            yield client


async def burst(requests: Iterable[Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """The answers to requests sent all at once; none may be a server error, none may wait forever."""
    answers = await asyncio.wait_for(asyncio.gather(*requests), timeout=BURST_SECONDS)
    failed = [
        f"{a.request.method} {a.request.url.path}: {a.status_code} {a.text}" for a in answers if a.status_code >= 500
    ]
    assert not failed, failed
    return answers


def statuses(answers: Iterable[httpx.Response]) -> Counter[int]:
    return Counter(answer.status_code for answer in answers)


def error_codes(answer: httpx.Response) -> set[str]:
    return {error["code"] for error in answer.json()["errors"]}


PROFESSIONS = {PRESCRIBER: "physician", PHARMACIST: "pharmacist"}


def numbered(n: int, by: str = PRESCRIBER, **changes: Any) -> dict[str, Any]:
    """A report from ``by``, told apart from the others by its narrative."""
    narrative = f"Somnolence apparue après augmentation de dose, message {n}."
    return report(narrative=narrative, reporter={"profession": PROFESSIONS[by]}, **changes)


def follow_up_body(n: int, by: str) -> dict[str, Any]:
    """The report as now known to ``by``: a second reaction, told apart from the others by its text."""
    return numbered(n, by, reactions=[reaction(), reaction(code="dizziness", text=f"vertiges, précision {n}")])


async def submit(api: httpx.AsyncClient, registry: Tokens, body: dict[str, Any]) -> httpx.Response:
    answer = await api.post(REPORTS, json=body, headers=registry.headers(PRESCRIBER))
    assert answer.status_code == 201, answer.text
    return answer


def stored_whole(stored: dict[str, Any], sent: dict[str, Any]) -> bool:
    """The version holds every field sent with the value sent (the service adds its defaults beside)."""
    return {name: stored.get(name) for name in sent} == sent


async def version_body(api: httpx.AsyncClient, registry: Tokens, case_id: int, version: int) -> dict[str, Any]:
    answer = await api.get(f"{REPORTS}/{case_id}/versions/{version}", headers=registry.headers(PV_STAFF))
    assert answer.status_code == 200, answer.text
    report_body: dict[str, Any] = answer.json()["report"]
    return report_body


async def case_changes(api: httpx.AsyncClient, registry: Tokens, case_id: int) -> list[dict[str, Any]]:
    """The case's audit trail without the reads: the changes, oldest first."""
    answer = await api.get(f"{REPORTS}/{case_id}/audit?limit=500", headers=registry.headers(PV_STAFF))
    assert answer.status_code == 200, answer.text
    return [item for item in answer.json()["items"] if not item["action"].startswith("case.read")]


async def count(database: Database, model: type[Any]) -> int:
    async with database.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# --- triage: rival actions on one ETag ---------------------------------------------------------------

CODES = ("dizziness", "headache", "nausea", "fatigue", "insomnia")
CATEGORIES = ("certain", "probable", "possible", "unlikely", "unassessable")


def rival_actions() -> list[dict[str, Any]]:
    """Fifteen actions allowed in triage, each leaving its own mark: a code, a causality or a request."""
    codes = [{"action": "code", "reaction": 0, "code": code} for code in CODES]
    assessments = [{"action": "assess", "reaction": 0, "who_umc": category} for category in CATEGORIES]
    requests = [{"action": "request_follow_up", "message": f"Précisez la posologie ({n})."} for n in range(5)]
    return codes + assessments + requests


def expected_after(action: dict[str, Any]) -> dict[str, Any]:
    """What the case shows once ``action`` alone was applied to a started case coded ``somnolence``."""
    state = {"code": "in_triage", "assess": "assessed", "request_follow_up": "awaiting_follow_up"}[action["action"]]
    return {
        "state": state,
        "code": action.get("code", "somnolence"),
        "who_umc": action.get("who_umc"),
        "requests": [action["message"]] if "message" in action else [],
    }


def seen_after(case: dict[str, Any]) -> dict[str, Any]:
    causality = case["reactions"][0]["causality"]
    return {
        "state": case["state"],
        "code": case["reactions"][0]["code"],
        "who_umc": causality["who_umc"] if causality else None,
        "requests": [request["message"] for request in case["follow_up_requests"]],
    }


async def test_of_rival_triage_actions_sent_with_one_etag_exactly_one_wins_on_each_case(
    api: httpx.AsyncClient, registry: Tokens
) -> None:
    staff = registry.headers(PV_STAFF)
    onsets = ("2023-06-01", "2023-07-01", "2023-08-01")
    created = [await submit(api, registry, report(reactions=[reaction(onset_date=day)])) for day in onsets]
    etags = {answer.json()["id"]: answer.headers["etag"] for answer in created}

    def act(case_id: int, action: dict[str, Any], etag: str) -> Awaitable[httpx.Response]:
        return api.post(f"{REPORTS}/{case_id}/actions", json=action, headers={**staff, "If-Match": etag})

    # Fifteen `start` per case, the three cases at once.
    started = await burst(
        act(case_id, {"action": "start"}, etag) for case_id, etag in list(etags.items()) for _ in range(RIVALS)
    )
    for index, case_id in enumerate(etags):
        answers = started[index * RIVALS : (index + 1) * RIVALS]
        assert statuses(answers) == {200: 1, 412: RIVALS - 1}, case_id
        (winner,) = (answer for answer in answers if answer.status_code == 200)
        assert winner.json()["state"] == "in_triage"
        etags[case_id] = winner.headers["etag"]

    # Then fifteen different actions per case, all with the ETag the start gave.
    actions = rival_actions()
    sent = [(case_id, action) for case_id in etags for action in actions]
    answers = await burst(act(case_id, action, etags[case_id]) for case_id, action in sent)
    for case_id in etags:
        mine = [(action, answer) for (target, action), answer in zip(sent, answers, strict=True) if target == case_id]
        assert statuses(answer for _, answer in mine) == {200: 1, 412: RIVALS - 1}, case_id
        ((action, winner),) = ((action, answer) for action, answer in mine if answer.status_code == 200)
        assert all(answer.json()["status"] == 412 for _, answer in mine if answer is not winner)
        case = await api.get(f"{REPORTS}/{case_id}", headers=staff)
        assert seen_after(case.json()) == expected_after(action)
        assert case.headers["etag"] == winner.headers["etag"]
        changes = await case_changes(api, registry, case_id)
        assert [change["action"] for change in changes] == ["case.create", "case.start", f"case.{action['action']}"]
        if action["action"] == "code":
            assert changes[-1]["after"]["reactions[0].code"] == action["code"]
        if action["action"] == "assess":
            assert changes[-1]["after"]["reactions[0].who_umc"] == action["who_umc"]


# --- intake: one Idempotency-Key sent many times at once ------------------------------------------------


async def test_a_report_sent_many_times_at_once_with_one_key_makes_one_case_and_the_same_answer(
    api: httpx.AsyncClient, registry: Tokens, database: Database
) -> None:
    headers = {**registry.headers(PRESCRIBER), "Idempotency-Key": "one-report-many-sends"}
    body = numbered(1)
    answers = await burst(api.post(REPORTS, json=body, headers=headers) for _ in range(20))
    assert statuses(answers) == {201: 20}
    assert len({answer.content for answer in answers}) == 1
    assert len({answer.headers["etag"] for answer in answers}) == 1
    assert await count(database, Case) == 1
    case_id = answers[0].json()["id"]
    assert stored_whole(await version_body(api, registry, case_id, 1), body)
    assert [change["action"] for change in await case_changes(api, registry, case_id)] == ["case.create"]


async def test_one_key_sent_at_once_with_two_reports_keeps_the_first_and_refuses_the_other_422(
    api: httpx.AsyncClient, registry: Tokens, database: Database
) -> None:
    headers = {**registry.headers(PRESCRIBER), "Idempotency-Key": "one-key-two-reports"}
    bodies = [numbered(1), numbered(2)] * 8
    answers = await burst(api.post(REPORTS, json=body, headers=headers) for body in bodies)
    assert await count(database, Case) == 1
    created = [answer for answer in answers if answer.status_code == 201]
    case_id = created[0].json()["id"]
    stored = await version_body(api, registry, case_id, 1)
    (kept,) = (body for body in bodies[:2] if stored_whole(stored, body))
    for body, answer in zip(bodies, answers, strict=True):
        if body is kept:
            assert answer.status_code == 201 and answer.content == created[0].content
        else:
            assert answer.status_code == 422 and error_codes(answer) == {"idempotency_key_reused"}, answer.text
    assert statuses(answers) == {201: 8, 422: 8}


async def test_reports_sent_at_once_with_different_keys_make_one_case_each_with_unique_numbers(
    api: httpx.AsyncClient, registry: Tokens, database: Database
) -> None:
    # The key's scope is the user: the prescriber and the pharmacist use the same ten keys.
    sent = [(rpps, f"key-{n}", numbered(n * 2 + i, rpps)) for n in range(10) for i, rpps in enumerate(PROFESSIONS)]
    answers = await burst(
        api.post(REPORTS, json=body, headers={**registry.headers(rpps), "Idempotency-Key": key})
        for rpps, key, body in sent
    )
    assert statuses(answers) == {201: len(sent)}
    cases = [answer.json() for answer in answers]
    assert len({case["id"] for case in cases}) == len(sent)
    assert len({case["case_number"] for case in cases}) == len(sent)
    assert await count(database, Case) == len(sent)
    for (_, _, body), case in zip(sent, cases, strict=True):
        assert stored_whole(await version_body(api, registry, case["id"], 1), body)


# --- possible duplicates found by writers at once -----------------------------------------------------------


async def linked(api: httpx.AsyncClient, registry: Tokens, case_ids: Iterable[int]) -> dict[int, set[int]]:
    """Each case's possible duplicates, by id."""
    links = {}
    for case_id in case_ids:
        case = (await api.get(f"{REPORTS}/{case_id}", headers=registry.headers(PV_STAFF))).json()
        links[case_id] = {other["id"] for other in case["possible_duplicates"]}
    return links


def every_other(case_ids: list[int]) -> dict[int, set[int]]:
    return {case_id: set(case_ids) - {case_id} for case_id in case_ids}


async def test_reports_of_one_reaction_sent_at_once_are_all_linked_as_possible_duplicates(
    api: httpx.AsyncClient, registry: Tokens
) -> None:
    # The prescriber and the pharmacist report the same somnolence of one patient, several times at once.
    sent = [(rpps, numbered(n, rpps)) for n, rpps in enumerate(list(PROFESSIONS) * 5)]
    answers = await burst(api.post(REPORTS, json=body, headers=registry.headers(rpps)) for rpps, body in sent)
    assert statuses(answers) == {201: len(sent)}
    case_ids = [answer.json()["id"] for answer in answers]
    assert await linked(api, registry, case_ids) == every_other(case_ids)


UNRELATED = {"dizziness": "vertiges", "headache": "céphalées", "nausea": "nausées", "insomnia": "insomnie",
             "fatigue": "épuisement", "dry_mouth": "bouche sèche", "palpitations": "palpitations"}  # fmt: skip


async def test_cases_coded_at_once_into_one_term_link_each_other_without_deadlock(
    api: httpx.AsyncClient, registry: Tokens
) -> None:
    staff = registry.headers(PV_STAFF)
    case_ids = []
    for code, text in UNRELATED.items():
        created = await submit(api, registry, report(reactions=[reaction(code=code, text=text)]))
        case_ids.append(created.json()["id"])
    assert await linked(api, registry, case_ids) == {case_id: set() for case_id in case_ids}
    etags = {case_id: (await api.get(f"{REPORTS}/{case_id}", headers=staff)).headers["etag"] for case_id in case_ids}
    started = await burst(
        api.post(f"{REPORTS}/{case_id}/actions", json={"action": "start"}, headers={**staff, "If-Match": etag})
        for case_id, etag in etags.items()
    )
    assert statuses(started) == {200: len(case_ids)}
    # PV staff code every reaction as somnolence at once: the cases are now possible duplicates of each other.
    code = {"action": "code", "reaction": 0, "code": "somnolence"}
    coded = await burst(
        api.post(f"{REPORTS}/{case_id}/actions", json=code, headers={**staff, "If-Match": answer.headers["etag"]})
        for case_id, answer in zip(case_ids, started, strict=True)
    )
    assert statuses(coded) == {200: len(case_ids)}
    assert await linked(api, registry, case_ids) == every_other(case_ids)


async def test_reports_and_follow_ups_of_their_possible_duplicate_at_once_all_link_without_deadlock(
    api: httpx.AsyncClient, registry: Tokens
) -> None:
    first = (await submit(api, registry, report())).json()["id"]
    follow_ups = [follow_up_body(n, PRESCRIBER) for n in range(6)]
    reports = [(rpps, numbered(n, rpps)) for n, rpps in enumerate(list(PROFESSIONS) * 3)]
    answers = await burst(
        [
            api.post(f"{REPORTS}/{first}/follow-ups", json=body, headers=registry.headers(PRESCRIBER))
            for body in follow_ups
        ]
        + [api.post(REPORTS, json=body, headers=registry.headers(rpps)) for rpps, body in reports]
    )
    assert statuses(answers) == {201: len(answers)}
    case_ids = [first] + [answer.json()["id"] for answer in answers[len(follow_ups) :]]
    assert await linked(api, registry, case_ids) == every_other(case_ids)
    versions = await api.get(f"{REPORTS}/{first}/versions", headers=registry.headers(PV_STAFF))
    assert [item["version"] for item in versions.json()["items"]] == list(range(1, len(follow_ups) + 2))


# --- a registry import while reports arrive ---------------------------------------------------------------

IMPORTED_PATIENTS = 500
FAILING_LINES = 5
MAX_REPORTS_DURING_IMPORT = 300


def import_lines() -> list[dict[str, Any]]:
    """New patients each with a prescription, a dispensation and a titration step; the small registry again
    (unchanged) but for one patient's consent (updated); prescriptions of unknown patients (failed)."""
    lines: list[dict[str, Any]] = []
    for n in range(IMPORTED_PATIENTS):
        registry_id = f"RC-9{n:05d}"
        lines += [
            {"type": "patient", "registry_id": registry_id, "birth_year": 1960 + n % 40, "sex": "FMU"[n % 3],
             "indication": "neuropathic_pain", "inclusion_date": "2022-09-01", "reference_prescriber": PRESCRIBER,
             "city_doctor": None, "pharmacist": PHARMACIST, "registry_consent": True, "nir_consent": False,
             "legal_status": "adult"},
            {"type": "prescription", "id": f"RX-9{n:05d}", "registry_id": registry_id, "prescriber": PRESCRIBER,
             "product": "OIL-T10", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.25, "start_date": "2022-09-01", "days": 28},
            {"type": "dispensation", "id": f"DS-9{n:05d}", "prescription_id": f"RX-9{n:05d}",
             "pharmacist": PHARMACIST, "date": "2022-09-01", "quantity": 14.0, "days_supply": 28},
            {"type": "titration_step", "registry_id": registry_id, "date": "2022-09-01", "daily_thc_mg": 1.0,
             "daily_cbd_mg": 0.05},
        ]  # fmt: skip
    again = copy.deepcopy(registry_lines())
    consent = next(line for line in again if line.get("registry_id") == "RC-000123" and line["type"] == "patient")
    consent["nir_consent"] = True
    unknown = [
        {"type": "prescription", "id": f"RX-LOST-{n}", "registry_id": f"RC-LOST-{n}", "prescriber": PRESCRIBER,
         "product": "OIL-T10", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.25, "start_date": "2022-09-01", "days": 28}
        for n in range(FAILING_LINES)
    ]  # fmt: skip
    return lines + again + unknown


async def test_an_import_and_reports_arriving_meanwhile_all_complete_and_are_stored_whole(
    api: httpx.AsyncClient, registry: Tokens, database: Database
) -> None:
    lines = import_lines()
    content = ndjson(lines)
    reading = asyncio.Event()

    async def upload() -> AsyncIterator[bytes]:
        step = 64 * 1024
        for start in range(0, len(content), step):
            reading.set()
            yield content[start : start + step]
            await asyncio.sleep(0)

    admin = {**registry.headers(ADMIN), "Content-Type": "application/x-ndjson"}

    async def import_and_report() -> tuple[httpx.Response, list[tuple[dict[str, Any], httpx.Response]]]:
        importing = asyncio.create_task(api.post("/api/v1/registry/imports", content=upload(), headers=admin))
        await reading.wait()
        reported: list[tuple[dict[str, Any], httpx.Response]] = []
        numbers = itertools.count()

        async def keep_reporting(by: str) -> None:
            # At least once each, then as long as the import runs.
            while not importing.done() and len(reported) < MAX_REPORTS_DURING_IMPORT:
                body = numbered(next(numbers), by)
                reported.append((body, await api.post(REPORTS, json=body, headers=registry.headers(by))))

        await asyncio.gather(*(keep_reporting(by) for by in list(PROFESSIONS) * 4))
        return await importing, reported

    imported, reported = await asyncio.wait_for(import_and_report(), timeout=BURST_SECONDS)
    assert imported.status_code == 200, imported.text
    assert statuses(answer for _, answer in reported) == {201: len(reported)}
    summary = imported.json()
    again = len(registry_lines())
    assert {name: summary[name] for name in ("total", "accepted", "unchanged", "failed")} == {
        "total": len(lines),
        "accepted": IMPORTED_PATIENTS * 4 + 1,
        "unchanged": again - 1,
        "failed": FAILING_LINES,
    }
    assert [error["line"] for error in summary["errors"]] == list(range(len(lines) - FAILING_LINES + 1, len(lines) + 1))
    assert await count(database, Patient) == IMPORTED_PATIENTS + 2
    assert await count(database, Case) == len(reported)
    for body, answer in reported:
        assert stored_whole(await version_body(api, registry, answer.json()["id"], 1), body)
    print(f"{len(reported)} reports answered 201 while an import of {len(lines)} lines ran")


# --- follow-ups at once ------------------------------------------------------------------------------------


async def test_two_follow_ups_with_one_etag_make_one_version_and_a_412(
    api: httpx.AsyncClient, registry: Tokens
) -> None:
    created = await submit(api, registry, report())
    case_id, etag = created.json()["id"], created.headers["etag"]
    sent = [(rpps, follow_up_body(n, rpps)) for n, rpps in enumerate(PROFESSIONS)]
    answers = await burst(
        api.post(f"{REPORTS}/{case_id}/follow-ups", json=body, headers={**registry.headers(rpps), "If-Match": etag})
        for rpps, body in sent
    )
    assert statuses(answers) == {201: 1, 412: 1}
    ((_, winner),) = (sent_one for sent_one, answer in zip(sent, answers, strict=True) if answer.status_code == 201)
    versions = await api.get(f"{REPORTS}/{case_id}/versions", headers=registry.headers(PV_STAFF))
    assert [item["version"] for item in versions.json()["items"]] == [1, 2]
    assert stored_whole(await version_body(api, registry, case_id, 2), winner)
    changes = [change["action"] for change in await case_changes(api, registry, case_id)]
    assert changes == ["case.create", "case.follow_up"]


async def test_follow_ups_at_once_without_if_match_each_make_a_version_numbered_without_gap(
    api: httpx.AsyncClient, registry: Tokens
) -> None:
    created = await submit(api, registry, report())
    case_id = created.json()["id"]
    senders = list(PROFESSIONS) * 6
    bodies = [follow_up_body(n, rpps) for n, rpps in enumerate(senders)]
    answers = await burst(
        api.post(f"{REPORTS}/{case_id}/follow-ups", json=body, headers=registry.headers(rpps))
        for rpps, body in zip(senders, bodies, strict=True)
    )
    assert statuses(answers) == {201: len(bodies)}
    given = [answer.json()["version"] for answer in answers]
    assert sorted(given) == list(range(2, len(bodies) + 2))
    versions = await api.get(f"{REPORTS}/{case_id}/versions?limit=500", headers=registry.headers(PV_STAFF))
    assert [item["version"] for item in versions.json()["items"]] == list(range(1, len(bodies) + 2))
    for body, version in zip(bodies, given, strict=True):
        assert stored_whole(await version_body(api, registry, case_id, version), body)
    case = (await api.get(f"{REPORTS}/{case_id}", headers=registry.headers(PV_STAFF))).json()
    assert case["version"] == len(bodies) + 1
    changes = [change["action"] for change in await case_changes(api, registry, case_id)]
    assert changes == ["case.create"] + ["case.follow_up"] * len(bodies)
