"""The scan that fails the suite when personal data reaches a log (see ``no_personal_data_in_any_log``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from log_scan import collected_log_lines, leaks, log_files, personal_data_in

from pv_service.users.service import new_token


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("GET /api/v1/me bearer " + "pvt_" + "A" * 43, "token"),
        ("patient 1 70 05 44 109 123 70 refused", "nir"),
        ("rappeler le 06 12 34 56 78", "phone"),
        ("contact jean.dupont@example.fr", "email"),
    ],
)
def test_each_kind_of_personal_data_in_a_line_is_found(line: str, kind: str) -> None:
    assert personal_data_in(line) == kind
    assert leaks([("here", line)]) == [f"here: a {kind} in: {line!r}"]


def test_an_issued_token_is_recognised_as_one() -> None:
    assert personal_data_in(f"token={new_token()}") == "token"


def test_ordinary_service_lines_are_not_flagged() -> None:
    lines = [
        ("a", 'INFO:     127.0.0.1:52044 - "POST /api/v1/reports HTTP/1.1" 201 Created'),
        ("b", "pv_service.jobs: weekly_digest 2026-W48 is running on host:1234:ab12cd"),
        ("c", "WARNING - 2026-12-02 04:23:31,368 - pv_service.jobs - job failing 2026-11-30 failed: ValueError"),
        ("d", "case PV-2026-000123 for RC-000123 by rpps 10000000025"),
    ]
    assert leaks(lines) == []


def test_records_of_every_logger_are_collected_with_their_exception() -> None:
    quiet = logging.getLogger("uvicorn.error")
    with collected_log_lines() as lines:
        try:
            raise RuntimeError("while writing case 7")
        except RuntimeError:
            quiet.exception("failure on case %d", 7)
    [line] = lines
    assert line.startswith("uvicorn.error: failure on case 7") and "RuntimeError: while writing case 7" in line


def test_log_files_are_read_line_by_line_with_their_place(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("started\ncase 12 filed\n")
    try:
        assert list(log_files(tmp_path)) == [("server.log:1", "started"), ("server.log:2", "case 12 filed")]
    finally:
        log.unlink()
