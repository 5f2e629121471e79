"""Problem details (SPEC §7): one body shape for every error, named errors, and no integrity error
passed off as a client's conflict."""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy.exc import IntegrityError

from pv_service.errors import NotForwarded, StaleCase, problem_details_plugin


@get("/stale", sync_to_thread=False)
def stale() -> None:
    raise StaleCase()


@get("/not-forwarded", sync_to_thread=False)
def not_forwarded() -> None:
    raise NotForwarded()


@get("/integrity", sync_to_thread=False)
def integrity() -> None:
    raise IntegrityError("INSERT INTO cases ...", {}, Exception("NOT NULL constraint failed: cases.priority"))


def app() -> Litestar:
    # No logging configuration of its own: the test reads the records where pytest captures them.
    return Litestar([stale, not_forwarded, integrity], plugins=[problem_details_plugin()], logging_config=None)


async def test_a_named_error_answers_its_status_as_problem_details_with_errors() -> None:
    async with AsyncTestClient(app()) as client:
        response = await client.get("/stale")
    assert response.status_code == 412
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/precondition-failed")
    assert body["errors"] == []
    assert "changed since you read it" in body["detail"]


async def test_closing_before_forwarding_is_a_conflict_coded_not_forwarded() -> None:
    async with AsyncTestClient(app()) as client:
        response = await client.get("/not-forwarded")
    assert response.status_code == 409
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("action", "not_forwarded")]


async def test_an_unexpected_integrity_error_is_a_logged_500_without_its_sql(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="pv_service"):
        async with AsyncTestClient(app()) as client:
            response = await client.get("/integrity")
    assert response.status_code == 500
    assert "INSERT" not in response.text and "NOT NULL" not in response.text
    assert any(record.levelno == logging.ERROR and record.exc_info for record in caplog.records)
