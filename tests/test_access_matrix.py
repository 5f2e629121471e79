"""The access matrix (SPEC §1, §14): every API route × every role × a resource of the caller's own, another's
or none, and callers with no, an unknown, an expired or a revoked token — each cell the exact status of
SPEC §14's precedence: 401 → 403 → 404 → 428/412 → 400 → 409 → 422.

The table has one row per method and path of the app's own route list (under ``/api/v1``, and ``/health``);
two tests hold it to that list both ways. ``OPTIONS`` and ``HEAD`` are no rows: Litestar answers
``OPTIONS`` on every path itself, before authentication (a CORS preflight carries no token), naming the
path's methods and nothing more; no API route takes ``HEAD``. One test checks both on every path.

A row's request is valid for an allowed caller, who gets the row's success status (201 for a write, 200
for a read, an import or an action); its cells say what each role gets with the resource the request
names: ``own`` (the patient RC-000123, its case filed by PRESCRIBER, its prescription RX-1), ``other``
(RC-000200, OTHER_PRESCRIBER's case, RX-OTHER) or ``unknown``; a job, a week or a reference document is
``known`` or ``unknown``, alike for every caller. Rows marked with another ``probe`` send a request wrong in
one later-stage way (a body of the wrong shape, a missing or stale If-Match, …) to show which refusal wins.

Each test builds the resources once and runs its cells in order against that one database, then reports
every wrong cell at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from conftest import ADMIN, OTHER_PRESCRIBER, PHARMACIST, PRESCRIBER, PV_STAFF, Tokens
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from report_bodies import reaction, report
from sqlalchemy import update

from pv_service.clock import utc_now
from pv_service.digests.service import current_week
from pv_service.storage.database import Database
from pv_service.storage.models import Token
from pv_service.users.service import hash_token, issue_token, revoke_token

API = "/api/v1"
# Litestar's own methods on every path, tested once for all (see the module's docstring).
GENERIC_METHODS = frozenset({"OPTIONS", "HEAD"})
CALLER_OF_ROLE = {"prescriber": PRESCRIBER, "pharmacist": PHARMACIST, "pv_staff": PV_STAFF, "admin": ADMIN}
OWN, OTHER, UNKNOWN, KNOWN, NO_RESOURCE = "own", "other", "unknown", "known", "-"
VALID = "a valid request"
STALE_ETAG = '"0.0"'
# No case of the matrix's few has this id.
UNKNOWN_CASE = "999999"


# --- the resources a request names ----------------------------------------------------------------------


@dataclass
class World:
    """The resources of one test's database, by target and reach, and how to read a case's current ETag."""

    client: AsyncTestClient[Litestar]
    tokens: Tokens
    values: dict[str, dict[str, str]]

    async def etag(self, case_id: str) -> str:
        if case_id == UNKNOWN_CASE:
            return '"1.1"'
        response = await self.client.get(f"{API}/reports/{case_id}", headers=self.tokens.headers(PV_STAFF))
        assert response.status_code == 200, response.text
        return response.headers["etag"]

    def patient_of_case(self, case_id: str) -> str:
        return "RC-000200" if case_id == self.values["case"][OTHER] else "RC-000123"


@dataclass(frozen=True)
class Target:
    """What a request names; a row's cells give a status for each of its reaches."""

    name: str
    reaches: tuple[str, ...]

    def value(self, world: World, reach: str) -> str:
        return world.values[self.name][reach] if self.name in world.values else ""


NOTHING = Target("nothing", (NO_RESOURCE,))
PATIENT = Target("patient", (OWN, OTHER, UNKNOWN))
CASE = Target("case", (OWN, OTHER, UNKNOWN))
PRESCRIPTION = Target("prescription", (OWN, OTHER, UNKNOWN))
JOB = Target("job", (KNOWN, UNKNOWN))
WEEK = Target("week", (KNOWN, UNKNOWN))
DOCUMENT = Target("reference document", (KNOWN, UNKNOWN))


# --- the rows -------------------------------------------------------------------------------------------

Body = Callable[[World, str], Any]
Headers = Callable[[World, str], Awaitable[dict[str, str]]]
Statuses = int | tuple[int, ...]


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # as the app routes it, e.g. /api/v1/reports/{case_id:int}
    target: Target
    statuses: Mapping[str, tuple[int, ...]]  # role → status per reach of the target
    body: Body | None = None
    headers: Headers | None = None
    query: str = ""
    probe: str = VALID
    signed_out: int = 401
    # Its success brings a patient within the pharmacist's reach: it runs after the other rows.
    runs_last: bool = False

    def describe(self, caller: str, reach: str) -> str:
        named = f", {reach} {self.target.name}" if reach != NO_RESOURCE else ""
        return f"{self.method} {self.path}{'?' + self.query if self.query else ''} [{self.probe}] as {caller}{named}"


def row(
    method: str,
    path: str,
    target: Target = NOTHING,
    *,
    prescriber: Statuses,
    pharmacist: Statuses,
    pv_staff: Statuses,
    admin: Statuses,
    **options: Any,
) -> Row:
    """A row; a single status stands for every reach of the target."""
    reaches = len(target.reaches)
    given = {"prescriber": prescriber, "pharmacist": pharmacist, "pv_staff": pv_staff, "admin": admin}
    statuses = {role: (s,) * reaches if isinstance(s, int) else s for role, s in given.items()}
    wrong = {role: s for role, s in statuses.items() if len(s) != reaches}
    assert not wrong, f"{method} {path}: {target.reaches} take one status each, not {wrong}"
    return Row(method, path if path == "/health" else API + path, target, statuses, **options)


# Request bodies, valid for an allowed caller (dates inside each patient's records, before the withdrawal).
def report_on(patient: str) -> dict[str, Any]:
    """The report the matrix files: ``reporter`` left to the token's role, so it suits both professions."""
    return report(patient={"registry_id": patient, "weight_kg": 62.0}, reporter={})


def new_report(world: World, patient: str) -> dict[str, Any]:
    return report_on(patient)


def follow_up(world: World, case_id: str) -> dict[str, Any]:
    return report_on(world.patient_of_case(case_id))


def with_unknown_field(body: Body) -> Body:
    """The body with a field no request takes: a shape error (400)."""
    return lambda world, value: {**body(world, value), "no_such_field": True}


def future_onset(world: World, patient: str) -> dict[str, Any]:
    """Of the right shape, but invalid: an onset in the future (422 ``future_date``)."""
    return report_on(patient) | {"reactions": [reaction(onset_date=(utc_now() + timedelta(days=2)).date().isoformat())]}


def assign(world: World, case_id: str) -> dict[str, Any]:
    return {"action": "assign", "assignee": PV_STAFF}


def close(world: World, case_id: str) -> dict[str, Any]:
    """Not allowed in the states the matrix's cases are in (received or in triage): 409."""
    return {"action": "close"}


async def fresh_if_match(world: World, case_id: str) -> dict[str, str]:
    return {"If-Match": await world.etag(case_id)}


async def stale_if_match(world: World, case_id: str) -> dict[str, str]:
    return {"If-Match": STALE_ETAG}


def fixed(body: Any) -> Body:
    return lambda world, value: body


def dispensation(world: World, prescription: str) -> dict[str, Any]:
    day = {"RX-OTHER": "2023-02-10"}.get(prescription, "2022-05-10")
    return {"id": f"DS-{prescription}", "prescription_id": prescription, "date": day, "quantity": 5.0,
            "days_supply": 7}  # fmt: skip


PATIENT_RECORDS = {
    "/prescriptions": {"id": "RX-MATRIX", "product": "OIL-T10", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.25,
                       "start_date": "2023-03-01", "days": 28},
    "/titration-steps": {"date": "2023-03-01", "daily_thc_mg": 2.0, "daily_cbd_mg": 0.1},
    "/consultations": {"date": "2023-03-01", "kind": "simple"},
    "/withdrawal": {"date": "2024-06-01", "reason": "insufficient_efficacy"},
}  # fmt: skip
FORGED_CURSOR = "cursor=AAAA"

ROWS: list[Row] = [
    row("GET", "/health", prescriber=200, pharmacist=200, pv_staff=200, admin=200, signed_out=200),
    row("GET", "/me", prescriber=200, pharmacist=200, pv_staff=200, admin=200),
    row("GET", "/forms/adverse-event", prescriber=200, pharmacist=200, pv_staff=200, admin=200),
    row("GET", "/reference/{name:str}", DOCUMENT,
        prescriber=(200, 404), pharmacist=(200, 404), pv_staff=(200, 404), admin=(200, 404)),
    # --- the registry: reads within reach, each write by the one role that records it
    # The operator imports the registry mirror, so sees all of it; case content stays out of their reach.
    row("GET", "/patients", prescriber=200, pharmacist=200, pv_staff=200, admin=200),
    row("GET", "/patients/{registry_id:str}", PATIENT,
        prescriber=(200, 404, 404), pharmacist=(200, 404, 404), pv_staff=(200, 200, 404), admin=(200, 200, 404)),
    *(
        row("POST", f"/patients/{{registry_id:str}}{record}", PATIENT, body=fixed(body),
            prescriber=(201, 404, 404), pharmacist=403, pv_staff=403, admin=403)
        for record, body in PATIENT_RECORDS.items()
    ),
    # A pharmacist may dispense against any known prescription (SPEC §14); an unknown one is a reference
    # of the body, not a resource of the path: 422 unknown_reference.
    row("POST", "/dispensations", PRESCRIPTION, body=dispensation, runs_last=True,
        prescriber=403, pharmacist=(201, 201, 422), pv_staff=403, admin=403),
    row("POST", "/registry/imports", body=fixed(b""), prescriber=403, pharmacist=403, pv_staff=403, admin=200),
    # --- reports and cases: the reporters within reach, PV staff every case, admin none (SPEC §14)
    row("GET", "/reports", prescriber=200, pharmacist=200, pv_staff=200, admin=403),
    row("POST", "/reports", PATIENT, body=new_report,
        prescriber=(201, 404, 404), pharmacist=(201, 404, 404), pv_staff=403, admin=403),
    *(
        row("GET", f"/reports/{{case_id:int}}{tail}", CASE,
            prescriber=(200, 404, 404), pharmacist=(200, 404, 404), pv_staff=(200, 200, 404), admin=403)
        for tail in ("", "/versions", "/versions/{version:int}", "/audit")
    ),
    # PV staff may enter follow-up information on any case (what a reporter tells them on the telephone).
    row("POST", "/reports/{case_id:int}/follow-ups", CASE, body=follow_up,
        prescriber=(201, 404, 404), pharmacist=(201, 404, 404), pv_staff=(201, 201, 404), admin=403),
    # --- triage, jobs, anomalies and digests: PV staff only (SPEC §1, §14)
    row("POST", "/reports/{case_id:int}/actions", CASE, body=assign, headers=fresh_if_match,
        prescriber=403, pharmacist=403, pv_staff=(200, 200, 404), admin=403),
    row("GET", "/queue", prescriber=403, pharmacist=403, pv_staff=200, admin=403),
    row("GET", "/anomalies", prescriber=403, pharmacist=403, pv_staff=200, admin=403),
    row("GET", "/jobs", prescriber=403, pharmacist=403, pv_staff=200, admin=403),
    row("GET", "/jobs/{name:str}/runs", JOB, prescriber=403, pharmacist=403, pv_staff=(200, 404), admin=403),
    row("POST", "/jobs/{name:str}/runs", JOB, body=fixed({}),
        prescriber=403, pharmacist=403, pv_staff=(201, 404), admin=403),
    row("GET", "/digests", prescriber=403, pharmacist=403, pv_staff=200, admin=403),
    row("GET", "/digests/{week:str}", WEEK, prescriber=403, pharmacist=403, pv_staff=(200, 404), admin=403),
]  # fmt: skip

# Requests wrong in one later-stage way: the refusals before it still win, and it wins over those after.
PROBES: list[Row] = [
    *(
        row("POST", f"/patients/{{registry_id:str}}{record}", PATIENT, body=with_unknown_field(fixed(body)),
            probe="a body of the wrong shape", prescriber=(400, 404, 404), pharmacist=403, pv_staff=403, admin=403)
        for record, body in PATIENT_RECORDS.items()
    ),
    row("POST", "/dispensations", PRESCRIPTION, body=with_unknown_field(dispensation),
        probe="a body of the wrong shape", prescriber=403, pharmacist=400, pv_staff=403, admin=403),
    row("POST", "/reports", PATIENT, body=with_unknown_field(new_report), probe="a body of the wrong shape",
        prescriber=(400, 404, 404), pharmacist=(400, 404, 404), pv_staff=403, admin=403),
    row("POST", "/reports", PATIENT, body=future_onset, probe="an onset in the future",
        prescriber=(422, 404, 404), pharmacist=(422, 404, 404), pv_staff=403, admin=403),
    *(
        row("GET", f"/reports/{{case_id:int}}{tail}", CASE, query=FORGED_CURSOR, probe="a forged cursor",
            prescriber=(400, 404, 404), pharmacist=(400, 404, 404), pv_staff=(400, 400, 404), admin=403)
        for tail in ("/versions", "/audit")
    ),
    row("POST", "/reports/{case_id:int}/follow-ups", CASE, body=with_unknown_field(follow_up),
        probe="a body of the wrong shape",
        prescriber=(400, 404, 404), pharmacist=(400, 404, 404), pv_staff=(400, 400, 404), admin=403),
    row("POST", "/reports/{case_id:int}/follow-ups", CASE, body=with_unknown_field(follow_up),
        headers=stale_if_match, probe="a stale If-Match and a body of the wrong shape",
        prescriber=(412, 404, 404), pharmacist=(412, 404, 404), pv_staff=(412, 412, 404), admin=403),
    row("POST", "/reports/{case_id:int}/actions", CASE, body=with_unknown_field(assign),
        probe="no If-Match and a body of the wrong shape",
        prescriber=403, pharmacist=403, pv_staff=(428, 428, 404), admin=403),
    row("POST", "/reports/{case_id:int}/actions", CASE, body=with_unknown_field(assign), headers=stale_if_match,
        probe="a stale If-Match and a body of the wrong shape",
        prescriber=403, pharmacist=403, pv_staff=(412, 412, 404), admin=403),
    row("POST", "/reports/{case_id:int}/actions", CASE, body=with_unknown_field(close), headers=fresh_if_match,
        probe="a body of the wrong shape for an action the state refuses",
        prescriber=403, pharmacist=403, pv_staff=(400, 400, 404), admin=403),
    row("POST", "/reports/{case_id:int}/actions", CASE, body=close, headers=fresh_if_match,
        probe="an action the state refuses", prescriber=403, pharmacist=403, pv_staff=(409, 409, 404), admin=403),
    row("POST", "/jobs/{name:str}/runs", JOB, body=fixed({"no_such_field": True}), probe="a body of the wrong shape",
        prescriber=403, pharmacist=403, pv_staff=(400, 404), admin=403),
    row("POST", "/jobs/{name:str}/runs", JOB, body=fixed({"period": "2021-13"}), probe="a malformed period",
        prescriber=403, pharmacist=403, pv_staff=(400, 404), admin=403),
]  # fmt: skip


# --- sending a cell ------------------------------------------------------------------------------------


def url_of(path: str, value: str, query: str = "") -> str:
    """The path with its resource's parameter filled (and a case's first version)."""
    for parameter in ("case_id", "registry_id", "name", "week"):
        for kind in ("int", "str"):
            path = path.replace(f"{{{parameter}:{kind}}}", value)
    path = path.replace("{version:int}", "1")
    return path + (f"?{query}" if query else "")


async def send(world: World, row: Row, reach: str, auth: dict[str, str]) -> Any:
    value = row.target.value(world, reach)
    headers = {**auth, **(await row.headers(world, value) if row.headers else {})}
    body = row.body(world, value) if row.body else None
    if isinstance(body, bytes):
        headers["Content-Type"] = "application/x-ndjson"
        return await world.client.request(row.method, url_of(row.path, value, row.query), content=body, headers=headers)
    return await world.client.request(row.method, url_of(row.path, value, row.query), json=body, headers=headers)


@dataclass
class Mismatches:
    found: list[str] = field(default_factory=list)

    def check(self, description: str, expected: int, response: Any) -> None:
        if response.status_code != expected:
            self.found.append(f"{description}: expected {expected}, got {response.status_code} {response.text[:160]}")

    def assert_none(self, cells: int) -> None:
        assert cells, "no cell was checked"
        assert not self.found, f"{len(self.found)} of {cells} cells wrong:\n" + "\n".join(self.found)


async def check_roles(world: World, rows: Iterable[Row]) -> None:
    """Every role on every reach of every row, in order (the rows that change reach last)."""
    mismatches, cells = Mismatches(), 0
    for each in sorted(rows, key=lambda r: r.runs_last):
        for role, statuses in each.statuses.items():
            for reach, expected in zip(each.target.reaches, statuses, strict=True):
                response = await send(world, each, reach, world.tokens.headers(CALLER_OF_ROLE[role]))
                mismatches.check(each.describe(role, reach), expected, response)
                cells += 1
    mismatches.assert_none(cells)


async def file_case(client: AsyncTestClient[Litestar], tokens: Tokens, rpps: str, patient: str) -> str:
    response = await client.post(f"{API}/reports", json=report_on(patient), headers=tokens.headers(rpps))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
async def world(client: AsyncTestClient[Litestar], registry: Tokens) -> World:
    """A case filed by PRESCRIBER on their patient RC-000123, and one by OTHER_PRESCRIBER on RC-000200."""
    own = await file_case(client, registry, PRESCRIBER, "RC-000123")
    other = await file_case(client, registry, OTHER_PRESCRIBER, "RC-000200")
    values = {
        "patient": {OWN: "RC-000123", OTHER: "RC-000200", UNKNOWN: "RC-999999"},
        "case": {OWN: own, OTHER: other, UNKNOWN: UNKNOWN_CASE},
        "prescription": {OWN: "RX-1", OTHER: "RX-OTHER", UNKNOWN: "RX-UNKNOWN"},
        "job": {KNOWN: "retention", UNKNOWN: "no-such-job"},
        # The week under way is computed live; a past week never produced is 404 (SPEC §14).
        "week": {KNOWN: current_week(client.app.state.context), UNKNOWN: "2001-W01"},
        "reference document": {KNOWN: "products", UNKNOWN: "no-such-document"},
    }
    return World(client=client, tokens=registry, values=values)


async def spent_tokens(database: Database) -> dict[str, dict[str, str]]:
    """For each role, a token of its user that has expired and one that was revoked."""
    spent: dict[str, dict[str, str]] = {"expired": {}, "revoked": {}}
    async with database.session() as session, session.begin():
        for role, rpps in CALLER_OF_ROLE.items():
            expired = (await issue_token(session, rpps=rpps, days=1, actor="test")).token
            await session.execute(
                update(Token)
                .where(Token.token_hash == hash_token(expired))
                .values(expires_at=utc_now() - timedelta(seconds=1))
            )
            revoked = (await issue_token(session, rpps=rpps, days=90, actor="test")).token
            await revoke_token(session, revoked, actor="test")
            spent["expired"][role], spent["revoked"][role] = expired, revoked
    return spent


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the table is the app's route list ------------------------------------------------------------------


def api_routes(app: Litestar) -> set[tuple[str, str]]:
    """Method and path of every route of the app under /api/v1, and /health, but the generic methods."""
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute) and (route.path.startswith(API + "/") or route.path == "/health")
        for method in route.methods - GENERIC_METHODS
    }


def table_routes(rows: Iterable[Row]) -> set[tuple[str, str]]:
    return {(each.method, each.path) for each in rows}


def test_every_route_of_the_app_has_a_row_in_the_access_matrix(app: Litestar) -> None:
    missing = sorted(api_routes(app) - table_routes(r for r in ROWS if r.probe == VALID))
    assert not missing, f"routes with no row in the access matrix: {missing}"


def test_every_row_of_the_access_matrix_is_a_route_of_the_app(app: Litestar) -> None:
    gone = sorted(table_routes([*ROWS, *PROBES]) - api_routes(app))
    assert not gone, f"rows for routes the app no longer has: {gone}"
    repeated = [key for key in table_routes(ROWS) if sum((r.method, r.path) == key for r in ROWS) > 1]
    assert not repeated, f"routes with more than one row of valid requests: {repeated}"


# --- the cells ------------------------------------------------------------------------------------------


async def test_no_token_an_unknown_expired_or_revoked_one_is_401_on_every_api_route(
    world: World, database: Database
) -> None:
    spent = await spent_tokens(database)
    callers = {"no token": {}, "an unknown token": bearer("pvt_" + "A" * 43)}
    for state, by_role in spent.items():
        callers |= {f"the {state} token of the {role}": bearer(token) for role, token in by_role.items()}
    mismatches, cells = Mismatches(), 0
    for each in ROWS:
        reach = each.target.reaches[0]
        for caller, auth in callers.items():
            mismatches.check(each.describe(caller, reach), each.signed_out, await send(world, each, reach, auth))
            cells += 1
    mismatches.assert_none(cells)
    # None of those requests wrote anything: the own case has its first version only.
    own_case = world.values["case"][OWN]
    versions = await world.client.get(f"{API}/reports/{own_case}", headers=world.tokens.headers(PV_STAFF))
    assert [v["version"] for v in versions.json()["versions"]] == [1]


async def test_each_role_reads_with_the_status_of_the_access_matrix(world: World) -> None:
    await check_roles(world, [r for r in ROWS if r.method == "GET"])


async def test_each_role_writes_with_the_status_of_the_access_matrix(world: World) -> None:
    await check_roles(world, [r for r in ROWS if r.method != "GET"])


async def test_refusals_come_in_the_order_of_spec_14_for_every_role(world: World) -> None:
    await check_roles(world, PROBES)


async def test_options_names_the_methods_of_the_matrix_without_a_token_and_no_api_route_takes_head(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    methods: dict[str, set[str]] = {}
    for method, path in table_routes(ROWS):
        methods.setdefault(path, set()).add(method)
    wrong = []
    for path, expected in sorted(methods.items()):
        url = url_of(path, "1")
        options = await client.options(url)
        allowed = {m.strip() for m in options.headers.get("allow", "").split(",") if m.strip()}
        if options.status_code != 204 or allowed != expected | {"OPTIONS"} or options.content:
            wrong.append(f"OPTIONS {path}: {options.status_code} Allow={sorted(allowed)} {options.text[:80]}")
        head = await client.head(url)
        if head.status_code != 405:
            wrong.append(f"HEAD {path}: {head.status_code}")
    assert not wrong, "\n".join(wrong)


# --- pages: a signed-out visitor is sent to sign in ----------------------------------------------------

# Every page a GET reaches, but the sign-in page itself; each sends a signed-out visitor to /login (303),
# saying where to come back to (SPEC §15: GET / is 303 to /login).
PAGES_SIGNED_OUT = {
    "/": "/login",
    "/reports": "/login?next=/reports",
    "/reports/new": "/login?next=/reports/new",
    "/reports/{case_id:int}": "/login?next=/reports/1",
    "/queue": "/login?next=/queue",
    "/cases/{case_id:int}": "/login?next=/cases/1",
    # The actions are forms posted to it; a GET is sent to the case page, which asks to sign in.
    "/cases/{case_id:int}/actions": "/cases/1",
    "/digests": "/login?next=/digests",
    "/digests/{week:str}": "/login?next=/digests/1",
    "/anomalies": "/login?next=/anomalies",
    "/admin": "/login?next=/admin",
}
NOT_PAGES = ("/api/", "/schema", "/static/", "/health", "/login")


async def test_every_page_sends_a_signed_out_visitor_to_sign_in(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    pages = {
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute) and "GET" in route.methods and not route.path.startswith(NOT_PAGES)
    }
    assert pages == set(PAGES_SIGNED_OUT), f"pages with no row, or rows with no page: {pages ^ set(PAGES_SIGNED_OUT)}"
    wrong = []
    for path, location in sorted(PAGES_SIGNED_OUT.items()):
        response = await client.get(url_of(path, "1"), follow_redirects=False)
        if response.status_code != 303 or response.headers.get("location") != location:
            wrong.append(f"GET {path}: {response.status_code} → {response.headers.get('location')}")
    assert not wrong, "\n".join(wrong)
