"""The ``pv-service`` console script, run as a real subprocess on a fresh SQLite file per test (SPEC §11-§14)."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from conftest import OTHER_PRESCRIBER, PRESCRIBER, PV_STAFF, ndjson, registry_lines
from litestar.testing import TestClient

from pv_service.app import create_app
from pv_service.config import Settings

PV_SERVICE = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "pv-service")
TOKEN_RE = re.compile(r"^pvt_[A-Za-z0-9_-]{43}$")
STAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SUMMARY_RE = re.compile(r"^total=(\d+) accepted=(\d+) unchanged=(\d+) failed=(\d+)$")
BAD_LUHN_RPPS = "10000000008"
NEW_PRESCRIBER = "10000000082"


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Only this test's data folder: no PV_* variable of the surrounding shell may point elsewhere.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env["PV_DATA_DIR"] = str(tmp_path)
    return subprocess.run([PV_SERVICE, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def ok(tmp_path: Path, *args: str) -> str:
    result = cli(tmp_path, *args)
    assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
    return result.stdout


def parse_stamp(value: str) -> datetime:
    assert STAMP_RE.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def token_rows(tmp_path: Path, rpps: str) -> list[list[str]]:
    """`tokens list`: one tab-separated line per token, id created expires revoked."""
    rows = [line.split("\t") for line in ok(tmp_path, "tokens", "list", "--rpps", rpps).splitlines()]
    for row in rows:
        assert len(row) == 4, row
        token_id, created, expires, revoked = row
        assert token_id and not token_id.startswith("pvt_"), row
        parse_stamp(created)
        parse_stamp(expires)
        assert revoked == "-" or STAMP_RE.match(revoked), row
    return rows


def create_token(tmp_path: Path, rpps: str, *extra: str) -> str:
    out = ok(tmp_path, "tokens", "create", "--rpps", rpps, *extra)
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert TOKEN_RE.match(lines[0]), out
    return lines[0]


def write_ndjson(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def summary(stdout: str) -> tuple[int, int, int, int]:
    first = stdout.splitlines()[0]
    match = SUMMARY_RE.match(first)
    assert match, stdout
    total, accepted, unchanged, failed = (int(g) for g in match.groups())
    return total, accepted, unchanged, failed


# --- users -----------------------------------------------------------------------------------------


def test_users_create_accepts_a_valid_rpps_and_refuses_a_bad_luhn_key_creating_nothing(tmp_path: Path) -> None:
    ok(tmp_path, "users", "create", "--rpps", NEW_PRESCRIBER, "--role", "prescriber", "--name", "Dr Z. Test")

    refused = cli(tmp_path, "users", "create", "--rpps", BAD_LUHN_RPPS, "--role", "prescriber", "--name", "Dr X")
    assert refused.returncode != 0, refused.stdout
    assert BAD_LUHN_RPPS not in refused.stdout

    no_user = cli(tmp_path, "tokens", "create", "--rpps", BAD_LUHN_RPPS)
    assert no_user.returncode != 0, no_user.stdout
    assert "pvt_" not in no_user.stdout


# --- tokens ----------------------------------------------------------------------------------------


def test_tokens_create_prints_the_token_alone_and_days_sets_the_expiry(tmp_path: Path) -> None:
    ok(tmp_path, "users", "create", "--rpps", NEW_PRESCRIBER, "--role", "prescriber", "--name", "Dr Z. Test")
    before = datetime.now(UTC).replace(microsecond=0)
    default_token = create_token(tmp_path, NEW_PRESCRIBER)
    short_token = create_token(tmp_path, NEW_PRESCRIBER, "--days", "3")
    after = datetime.now(UTC)
    assert default_token != short_token

    rows = token_rows(tmp_path, NEW_PRESCRIBER)
    assert len(rows) == 2, rows
    lifetimes = []
    for _, created, expires, revoked in rows:
        assert before <= parse_stamp(created) <= after, (created, before, after)
        assert revoked == "-"
        lifetimes.append(parse_stamp(expires) - parse_stamp(created))
    # Listed in creation order: the default 90 days first, then the 3-day token.
    assert lifetimes == [timedelta(days=90), timedelta(days=3)]


def test_tokens_revoke_accepts_the_id_or_the_token_itself_and_list_then_shows_the_time(tmp_path: Path) -> None:
    ok(tmp_path, "users", "create", "--rpps", NEW_PRESCRIBER, "--role", "prescriber", "--name", "Dr Z. Test")
    create_token(tmp_path, NEW_PRESCRIBER)
    second = create_token(tmp_path, NEW_PRESCRIBER)
    rows = token_rows(tmp_path, NEW_PRESCRIBER)
    assert [row[3] for row in rows] == ["-", "-"]
    first_id, second_id = rows[0][0], rows[1][0]
    assert first_id != second_id

    by_id = ok(tmp_path, "tokens", "revoke", first_id)
    assert by_id.split("\t")[0] == first_id, by_id
    by_token = ok(tmp_path, "tokens", "revoke", second)
    # The token itself designates the second token, not the first.
    assert by_token.split("\t")[0] == second_id, by_token
    assert second not in by_token

    revoked = {row[0]: row for row in token_rows(tmp_path, NEW_PRESCRIBER)}
    assert set(revoked) == {first_id, second_id}
    for token_id in (first_id, second_id):
        _, created, _, revoked_at = revoked[token_id]
        assert STAMP_RE.match(revoked_at), revoked[token_id]
        assert parse_stamp(revoked_at) >= parse_stamp(created)


def test_revoked_token_is_refused_by_the_http_api(tmp_path: Path) -> None:
    ok(tmp_path, "users", "create", "--rpps", PV_STAFF, "--role", "pv_staff", "--name", "Évaluatrice")
    token = create_token(tmp_path, PV_STAFF)
    headers = {"Authorization": f"Bearer {token}"}
    # No cache of verified tokens: the command line's revocation shows at once (test_token_cache.py: with one).
    app = create_app(Settings(data_dir=tmp_path, scheduler_enabled=False, token_cache_seconds=0))
    with TestClient(app=app) as client:
        before = client.get("/api/v1/patients", headers=headers)
        assert before.status_code == 200, before.text
        assert before.json()["items"] == []

        ok(tmp_path, "tokens", "revoke", token)

        after = client.get("/api/v1/patients", headers=headers)
        assert after.status_code == 401, after.text


# --- registry import -------------------------------------------------------------------------------


def test_registry_import_accepts_a_valid_file_then_reports_it_unchanged(tmp_path: Path) -> None:
    count = len(registry_lines())
    source = tmp_path / "registry.ndjson"
    source.write_bytes(ndjson(registry_lines()))

    first = ok(tmp_path, "registry", "import", str(source))
    assert first.splitlines()[0] == f"total={count} accepted={count} unchanged=0 failed=0", first
    assert not any(line.startswith("line ") for line in first.splitlines()), first

    second = ok(tmp_path, "registry", "import", str(source))
    assert second.splitlines()[0] == f"total={count} accepted=0 unchanged={count} failed=0", second


def test_registry_import_says_which_database_it_writes_to(tmp_path: Path) -> None:
    source = tmp_path / "registry.ndjson"
    source.write_bytes(ndjson(registry_lines()))
    done = cli(tmp_path, "registry", "import", str(source))
    assert done.returncode == 0, done.stderr
    assert "importing into sqlite+aiosqlite:///" in done.stderr and "pv_service.db" in done.stderr, done.stderr


def test_a_line_error_without_a_field_names_no_empty_field(tmp_path: Path) -> None:
    source = tmp_path / "registry.ndjson"
    source.write_bytes(b"not json\n")
    done = cli(tmp_path, "registry", "import", str(source))
    assert done.returncode == 1
    assert re.match(r"^line 1: invalid_type: ", done.stdout.splitlines()[1]), done.stdout


def _bad_file(tmp_path: Path) -> tuple[Path, int, dict[int, str | None]]:
    """The valid registry with three bad lines inserted; returns the file, the good count and, per bad
    line number (1-based), the error code expected on it (None: any)."""
    good = [msgspec.json.encode(r) for r in registry_lines()]
    late_inclusion: dict[str, Any] = {
        "type": "patient",
        "registry_id": "RC-000999",
        "birth_year": 1990,
        "sex": "M",
        "indication": "spasticity",
        "inclusion_date": "2024-03-27",
        "reference_prescriber": OTHER_PRESCRIBER,
        "city_doctor": None,
        "pharmacist": None,
        "registry_consent": True,
        "nir_consent": False,
        "legal_status": "adult",
    }
    unknown_product: dict[str, Any] = {
        "type": "prescription",
        "id": "RX-BAD",
        "registry_id": "RC-000123",
        "prescriber": PRESCRIBER,
        "product": "NO-SUCH-PRODUCT",
        "daily_thc_mg": 5.0,
        "daily_cbd_mg": 0.25,
        "start_date": "2022-06-01",
        "days": 28,
    }
    lines = list(good)
    lines.insert(2, b'{"type": "professional", "rpps": ')  # line 3: malformed JSON
    lines.insert(6, msgspec.json.encode(unknown_product))  # line 7
    lines.append(msgspec.json.encode(late_inclusion))  # last line
    bad = {3: None, 7: "unknown_product", len(lines): "outside_inclusion_window"}
    return write_ndjson(tmp_path / "bad.ndjson", lines), len(good), bad


def test_registry_import_reports_each_failing_line_exits_1_and_keeps_the_good_lines(tmp_path: Path) -> None:
    source, good, bad = _bad_file(tmp_path)
    total = good + len(bad)

    first = cli(tmp_path, "registry", "import", str(source))
    assert first.returncode == 1, (first.stdout, first.stderr)
    assert summary(first.stdout) == (total, good, 0, len(bad)), first.stdout
    errors: dict[int, list[str]] = {}
    for line in first.stdout.splitlines()[1:]:
        match = re.match(r"^line (\d+): (.+)$", line)
        assert match, line
        errors.setdefault(int(match.group(1)), []).append(match.group(2))
    assert set(errors) == set(bad), first.stdout
    for number, code in bad.items():
        if code is not None:
            assert any(f": {code}: " in f": {message}" for message in errors[number]), (number, errors[number])

    # The good lines were kept: importing the same file again finds them unchanged.
    second = cli(tmp_path, "registry", "import", str(source))
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert summary(second.stdout) == (total, 0, good, len(bad)), second.stdout


def test_registry_import_of_a_missing_file_or_without_argument_is_a_usage_error(tmp_path: Path) -> None:
    missing = cli(tmp_path, "registry", "import", str(tmp_path / "nowhere.ndjson"))
    assert missing.returncode == 2, (missing.stdout, missing.stderr)
    no_argument = cli(tmp_path, "registry", "import")
    assert no_argument.returncode == 2, (no_argument.stdout, no_argument.stderr)


# --- database --------------------------------------------------------------------------------------


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    ok(tmp_path, "db", "upgrade")
    assert (tmp_path / "pv_service.db").is_file()
    ok(tmp_path, "db", "upgrade")
