"""The OpenAPI document is true (SPEC §15): schemathesis, every check (``--checks all``), as every role.

A real server (uvicorn, in a thread of this process) serves the test database, filled with the small
registry and a report; schemathesis's command line runs against it once per role, the four at once, each
with that role's bearer token. A failure is any answer that does not match the document (status, media
type, headers, schema), a 500, a schema-violating request accepted, or a schema-valid one refused — except
by the documented 4xx business rules: a schema cannot say which cursor the service issued, which periods
are complete, which patient is within reach or what the rules of §14 refuse, so ``positive_data_acceptance``
takes 400, 404, 409, 412, 422 and 428 as answers too, and ``negative_data_rejection`` takes 412 and 413 (an
If-Match is judged before the body, SPEC §14).

The default run is seeded, on SQLite and bounded (about 45 s on an idle machine for the four roles, at least
1,000 requests each, which the test asserts): every role runs the examples, fuzzing and stateful phases on every
operation; the coverage phase (boundary values, each part left out or of the wrong type, every undeclared method:
some 2,000 requests over the document) runs each operation once as the role that may use it (``COVERED_BY``), and a
few more as a second role (``ALSO_COVERED_BY``): the pharmacist reports and follows up too, the PV staff reads cases,
and the admin meets the 403 that must come before any judgement of a malformed case request (SPEC §14). The
coverage phase is the cheap way to a thousand requests: its cases are enumerated, not searched for.
``PV_TEST_EXHAUSTIVE=1`` runs the ``exhaustive`` variant: every phase of every operation for every role, more
examples, a fresh seed each time, on each backend. Each role's request count is printed (``-s``) and recorded as
a property of the test suite (``schemathesis_requests_<backend>_<role>``, in a JUnit report).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import ADMIN, PHARMACIST, PRESCRIBER, PV_STAFF, Tokens
from demo_server import free_port
from litestar.testing import AsyncTestClient
from report_bodies import report

from pv_service.app import create_app
from pv_service.config import Settings

ROLE_RPPS = {"prescriber": PRESCRIBER, "pharmacist": PHARMACIST, "pv_staff": PV_STAFF, "admin": ADMIN}
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# The documented 4xx business-rule answers (see the module docstring); the rest are schemathesis's defaults.
CONFIG = """
hooks = "{hooks}"

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "412", "422", "428", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "413", "415", "422", "428", "429", "5xx"]
"""
# Loaded by schemathesis. The NDJSON import body is text. And Python 3.11.7's ast module can raise a
# spurious SystemError ("AST constructor recursion depth mismatch", CPython gh-106905, fixed in 3.11.8) when
# Hypothesis parses a big module to describe a lambda from a deep stack: the description falls back.
HOOKS = """
import schemathesis
from hypothesis.internal import lambda_sources

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
_describe = lambda_sources._lambda_description


def _described(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _described
"""
# The operations of a reporter (prescriber or pharmacist) on reports.
REPORTING = (
    "POST /api/v1/reports",
    "GET /api/v1/reports",
    "GET /api/v1/reports/{case_id}",
    "POST /api/v1/reports/{case_id}/follow-ups",
    "GET /api/v1/reports/{case_id}/versions",
    "GET /api/v1/reports/{case_id}/versions/{version}",
)
# In the default run, the operations whose coverage phase each role runs: every operation once, by a role that
# may use it (test_the_default_run_covers_every_operation_once checks that the four lists hold every operation
# of the document).
COVERED_BY = {
    "prescriber": (
        *REPORTING,
        "GET /api/v1/patients",
        "GET /api/v1/patients/{registry_id}",
        "POST /api/v1/patients/{registry_id}/prescriptions",
        "POST /api/v1/patients/{registry_id}/titration-steps",
        "POST /api/v1/patients/{registry_id}/consultations",
        "POST /api/v1/patients/{registry_id}/withdrawal",
    ),
    "pharmacist": (
        "POST /api/v1/dispensations",
        "GET /api/v1/reference/{name}",
        "GET /api/v1/forms/adverse-event",
        "GET /api/v1/me",
    ),
    "pv_staff": (
        "GET /api/v1/queue",
        "POST /api/v1/reports/{case_id}/actions",
        "GET /api/v1/reports/{case_id}/audit",
        "GET /api/v1/anomalies",
        "GET /api/v1/jobs",
        "GET /api/v1/jobs/{name}/runs",
        "POST /api/v1/jobs/{name}/runs",
        "GET /api/v1/digests",
        "GET /api/v1/digests/{week}",
        "GET /health",
    ),
    "admin": ("POST /api/v1/registry/imports",),
}
# In the default run, the operations whose coverage phase a second role runs as well: a pharmacist is a
# reporter too, PV staff read every case, and an admin is refused every case route whatever the request
# (403 comes before 404, 400 and 422, SPEC §14).
ALSO_COVERED_BY = {
    "pharmacist": REPORTING,
    "pv_staff": tuple(name for name in REPORTING if name.startswith("GET ")),
    "admin": (
        "POST /api/v1/reports",
        "POST /api/v1/reports/{case_id}/follow-ups",
        "POST /api/v1/reports/{case_id}/actions",
    ),
}
DEFAULT_COVERAGE = {role: COVERED_BY[role] + ALSO_COVERED_BY.get(role, ()) for role in COVERED_BY}
DEFAULT_RUN = {"max_examples": 10, "seed": "20261202", "min_requests": 1000, "coverage": DEFAULT_COVERAGE}
EXHAUSTIVE_RUN = {"max_examples": 100, "seed": None, "min_requests": 3000, "coverage": None}


def coverage_only_for(operations: tuple[str, ...]) -> str:
    """Configuration turning the coverage phase off for every operation but ``operations`` (names as
    ``METHOD /path``)."""
    others = "^(?!(" + "|".join(re.escape(name) + "$" for name in operations) + "))"
    return f"\n[[operations]]\ninclude-name-regex = '{others}'\nphases.coverage.enabled = false\n"


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="schemathesis-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def requests_made(events: Path) -> int:
    """How many requests the run sent: the interactions its NDJSON event stream records."""
    total = 0
    with events.open() as lines:
        for line in lines:
            event = json.loads(line)
            if "ScenarioFinished" in event:
                total += len(event["ScenarioFinished"]["recorder"].get("interactions", {}))
    return total


def run_schemathesis(
    base_url: str, token: str, work: Path, *, covered: tuple[str, ...] | None, max_examples: int, seed: str | None
) -> tuple[int, str, int]:
    """``schemathesis run --checks all`` as the holder of ``token``, its coverage phase on ``covered`` only
    (None: on every operation): exit code, output and requests sent."""
    hooks = work / "hooks.py"
    hooks.write_text(HOOKS)
    config = work / "schemathesis.toml"
    config.write_text(CONFIG.format(hooks=hooks) + (coverage_only_for(covered) if covered is not None else ""))
    events = work / "events.ndjson"
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{base_url}/schema/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(max_examples),
        "--workers",
        "2",
        # Generating slowly is the machine's business (a loaded CI), not the API's.
        "--suppress-health-check",
        "too_slow",
        "--generation-database",
        "none",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(events),
        *(["--seed", seed] if seed else []),
    ]
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=600, check=False)
    return done.returncode, done.stdout + done.stderr, requests_made(events)


async def check_every_role(
    settings: Settings, registry: Tokens, tmp_path: Path, run: dict[str, Any], record: Callable[[str, object], None]
) -> None:
    """Schemathesis as the four roles at once; each role's request count goes to ``record`` (and is printed)
    before the run is judged: no failure, and at least ``run["min_requests"]`` requests per role."""
    with serving(settings) as base_url:
        # A case to read, follow up and triage, so that case routes answer more than 404.
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            created = await client.post("/api/v1/reports", json=report(), headers=registry.headers(PRESCRIBER))
            assert created.status_code == 201, created.text

        async def as_role(role: str) -> tuple[str, int, str, int, float]:
            work = tmp_path / role
            work.mkdir()
            started = time.monotonic()
            code, output, requests = await asyncio.to_thread(
                run_schemathesis,
                base_url,
                registry.by_rpps[ROLE_RPPS[role]],
                work,
                covered=run["coverage"][role] if run["coverage"] is not None else None,
                max_examples=run["max_examples"],
                seed=run["seed"],
            )
            return role, code, output, requests, time.monotonic() - started

        backend = settings.database_url.partition("+")[0]
        failures = []
        counts = {}
        for role, code, output, requests, seconds in await asyncio.gather(*map(as_role, ROLE_RPPS)):
            print(f"{role}: {requests} requests in {seconds:.1f} s, exit {code}")
            record(f"schemathesis_requests_{backend}_{role}", requests)
            counts[role] = requests
            if requests < run["min_requests"]:
                failures.append(f"--- {role}: {requests} requests, not {run['min_requests']} ---\n{output[-5000:]}")
            if code != 0:
                failures.append(f"--- {role} (exit {code}) ---\n{output[-20000:]}")
        assert not failures, f"requests per role: {counts}\n" + "\n".join(failures)


async def test_the_default_run_covers_every_operation_once(client: AsyncTestClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    operations = [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item]
    covered = [name for names in COVERED_BY.values() for name in names]
    assert sorted(covered) == sorted(operations)
    also = {name for names in ALSO_COVERED_BY.values() for name in names}
    assert also <= set(operations), also - set(operations)


async def test_schemathesis_finds_no_failure_for_any_role_in_a_thousand_requests_each(
    settings: Settings, registry: Tokens, tmp_path: Path, record_testsuite_property: Callable[[str, object], None]
) -> None:
    if settings.database_url.startswith("postgresql"):
        pytest.skip("the default run is on SQLite; the exhaustive one runs on both backends")
    await check_every_role(settings, registry, tmp_path, DEFAULT_RUN, record_testsuite_property)


@pytest.mark.exhaustive
@pytest.mark.skipif(not os.environ.get("PV_TEST_EXHAUSTIVE"), reason="PV_TEST_EXHAUSTIVE is not set")
async def test_schemathesis_exhaustive_finds_no_failure_for_any_role(
    settings: Settings, registry: Tokens, tmp_path: Path, record_testsuite_property: Callable[[str, object], None]
) -> None:
    await check_every_role(settings, registry, tmp_path, EXHAUSTIVE_RUN, record_testsuite_property)
