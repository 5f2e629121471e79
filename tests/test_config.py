"""Settings: every field read from its ``PV_*`` variable by one reader that converts by the field's type."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import date
from pathlib import Path

import pytest

from pv_service.config import Settings, SettingsError, sqlite_url

README = Path(__file__).resolve().parent.parent / "README.md"

# A value of each field type that differs from every default, and its text in the environment.
SAMPLES: dict[str, tuple[str, object]] = {
    "data_dir": ("/srv/pv", Path("/srv/pv")),
    "database_url": ("postgresql+asyncpg://pv@db/pv", "postgresql+asyncpg://pv@db/pv"),
    "time_zone": ("America/Cayenne", "America/Cayenne"),
    "experimentation_start": ("2021-04-01", date(2021, 4, 1)),
    "inclusion_cutoff": ("2024-01-31", date(2024, 1, 31)),
    "experimentation_end": ("2026-03-26", date(2026, 3, 26)),
    "retention_records_years": ("20", 20),
    "max_body_bytes": ("2048", 2048),
    "import_max_bytes": ("4096", 4096),
    "max_connections": ("20", 20),
    "header_timeout_seconds": ("2", 2),
    "body_timeout_seconds": ("3", 3),
    "idle_timeout_seconds": ("1", 1),
    "token_cache_seconds": ("2.5", 2.5),
    "token_days": ("30", 30),
    "scheduler_enabled": ("false", False),
    "secret_key": ("s3cret", "s3cret"),
    "schemas_dir": ("/srv/schemas", Path("/srv/schemas")),
    "migrate_on_start": ("no", False),
    "job_lease_seconds": ("60", 60),
    "job_max_attempts": ("5", 5),
    "refill_tolerance": ("0.3", 0.3),
    "quantity_tolerance": ("0.15", 0.15),
    "dose_tolerance": ("0.5", 0.5),
}


def variable(field_name: str) -> str:
    (spec,) = (spec for spec in fields(Settings) if spec.name == field_name)
    return spec.metadata["env"]


def test_every_field_names_its_variable() -> None:
    names = [spec.metadata.get("env") for spec in fields(Settings)]
    assert all(name and re.fullmatch(r"PV_[A-Z_]+", name) for name in names), names
    assert len(set(names)) == len(names)
    assert {spec.name for spec in fields(Settings)} == set(SAMPLES)


@pytest.mark.parametrize("field_name", sorted(SAMPLES))
def test_each_variable_sets_its_field_converted_to_the_field_type(field_name: str) -> None:
    text, expected = SAMPLES[field_name]
    settings = Settings.from_env({variable(field_name): text})
    assert getattr(settings, field_name) == expected
    assert type(getattr(settings, field_name)) is type(expected)


def test_no_variable_gives_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings().schemas_dir is None  # the copy shipped in the package


def test_blank_variable_keeps_default() -> None:
    blank = {spec.metadata["env"]: "  " for spec in fields(Settings)}
    assert Settings.from_env(blank) == Settings()


def test_database_url_defaults_to_a_sqlite_file_in_the_data_dir() -> None:
    settings = Settings.from_env({"PV_DATA_DIR": "/srv/pv"})
    assert settings.database_url == sqlite_url(Path("/srv/pv") / "pv_service.db")
    assert Settings().database_url == sqlite_url(Path("data") / "pv_service.db")


def test_database_url_variable_wins_over_the_data_dir() -> None:
    settings = Settings.from_env({"PV_DATA_DIR": "/srv/pv", "PV_DATABASE_URL": "sqlite+aiosqlite:///elsewhere.db"})
    assert settings.database_url == "sqlite+aiosqlite:///elsewhere.db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("TRUE", True), (" yes ", True), ("on", True), ("0", False), ("False", False), ("off", False)],
)
def test_booleans_accept_the_usual_words(text: str, expected: bool) -> None:
    assert Settings.from_env({"PV_SCHEDULER_ENABLED": text}).scheduler_enabled is expected


def test_integers_and_dates_may_carry_spaces() -> None:
    settings = Settings.from_env({"PV_TOKEN_DAYS": " 7 ", "PV_EXPERIMENTATION_END": " 2026-03-26 "})
    assert settings.token_days == 7
    assert settings.experimentation_end == date(2026, 3, 26)


def test_bad_integer_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^PV_TOKEN_DAYS must be an integer, got 'ninety'$"):
        Settings.from_env({"PV_TOKEN_DAYS": "ninety"})


def test_bad_number_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^PV_DOSE_TOLERANCE must be a number, got '25%'$"):
        Settings.from_env({"PV_DOSE_TOLERANCE": "25%"})


def test_bad_boolean_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^PV_MIGRATE_ON_START must be true or false, got 'maybe'$"):
        Settings.from_env({"PV_MIGRATE_ON_START": "maybe"})


def test_bad_date_names_the_variable() -> None:
    with pytest.raises(
        SettingsError, match=r"^PV_EXPERIMENTATION_END must be an ISO date \(YYYY-MM-DD\), got '26/03/2026'$"
    ):
        Settings.from_env({"PV_EXPERIMENTATION_END": "26/03/2026"})


@pytest.mark.parametrize("zone", ["Europe/Atlantis", "../etc/passwd"])
def test_unknown_time_zone_names_the_variable(zone: str) -> None:
    with pytest.raises(SettingsError, match=r"^PV_TIME_ZONE is not a known time zone"):
        Settings.from_env({"PV_TIME_ZONE": zone})


def test_settings_errors_are_value_errors() -> None:
    assert issubclass(SettingsError, ValueError)


def test_zone_is_the_configured_time_zone() -> None:
    assert Settings.from_env({"PV_TIME_ZONE": "UTC"}).zone.key == "UTC"


def test_readme_settings_table_lists_every_variable() -> None:
    listed = set(re.findall(r"^\| `(PV_[A-Z_]+)` \|", README.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert listed == {spec.metadata["env"] for spec in fields(Settings)}
