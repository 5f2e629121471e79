"""Settings, read once from ``PV_*`` environment variables.

Every tunable of the service lives here so that a reader finds them in one place; the README's
settings table lists the same names and defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A ``PV_*`` variable holds a value the service cannot use."""


def _read_date(env: Mapping[str, str], name: str, default: date | None) -> date | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise SettingsError(f"{name} must be an ISO date (YYYY-MM-DD), got {raw!r}") from exc


def _read_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _read_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def _read_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """What one service instance runs with."""

    data_dir: Path = Path("data")
    database_url: str = ""
    time_zone: str = "Europe/Paris"
    # ANSM: the experimentation started on 2021-03-26; no inclusion from 2024-03-27 on.
    experimentation_start: date = date(2021, 3, 26)
    inclusion_cutoff: date = date(2024, 3, 27)
    # Unset while the experimentation runs: retention removes nothing and writes stay open.
    experimentation_end: date | None = None
    max_body_bytes: int = 1024 * 1024
    import_max_bytes: int = 256 * 1024 * 1024
    token_days: int = 90
    scheduler_enabled: bool = True
    secret_key: str = ""
    schemas_dir: Path = field(default=PROJECT_ROOT / "schemas")
    migrate_on_start: bool = True
    # A running job's claim may be taken over once its heartbeat is older than this.
    job_lease_seconds: int = 300
    job_max_attempts: int = 3
    # Early refill: before previous date + days_supply × (1 − tolerance).
    refill_tolerance: float = 0.2
    # Cumulative quantity above prescribed dose × days × (1 + tolerance).
    quantity_tolerance: float = 0.1
    # Reported daily dose farther than this (relative) from the dispensed one.
    dose_tolerance: float = 0.25

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", sqlite_url(self.data_dir / "pv_service.db"))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls(database_url="unused")
        data_dir = Path(env.get("PV_DATA_DIR") or defaults.data_dir)
        time_zone = env.get("PV_TIME_ZONE") or defaults.time_zone
        try:
            ZoneInfo(time_zone)
        except (KeyError, ValueError) as exc:
            raise SettingsError(f"PV_TIME_ZONE is not a known time zone: {time_zone!r}") from exc
        return cls(
            data_dir=data_dir,
            database_url=env.get("PV_DATABASE_URL", ""),
            time_zone=time_zone,
            experimentation_start=_read_date(env, "PV_EXPERIMENTATION_START", defaults.experimentation_start),
            inclusion_cutoff=_read_date(env, "PV_INCLUSION_CUTOFF", defaults.inclusion_cutoff),
            experimentation_end=_read_date(env, "PV_EXPERIMENTATION_END", None),
            max_body_bytes=_read_int(env, "PV_MAX_BODY_BYTES", defaults.max_body_bytes),
            import_max_bytes=_read_int(env, "PV_IMPORT_MAX_BYTES", defaults.import_max_bytes),
            token_days=_read_int(env, "PV_TOKEN_DAYS", defaults.token_days),
            scheduler_enabled=_read_bool(env, "PV_SCHEDULER_ENABLED", defaults.scheduler_enabled),
            secret_key=env.get("PV_SECRET_KEY", ""),
            schemas_dir=Path(env.get("PV_SCHEMAS_DIR") or defaults.schemas_dir),
            migrate_on_start=_read_bool(env, "PV_MIGRATE_ON_START", defaults.migrate_on_start),
            job_lease_seconds=_read_int(env, "PV_JOB_LEASE_SECONDS", defaults.job_lease_seconds),
            job_max_attempts=_read_int(env, "PV_JOB_MAX_ATTEMPTS", defaults.job_max_attempts),
            refill_tolerance=_read_float(env, "PV_REFILL_TOLERANCE", defaults.refill_tolerance),
            quantity_tolerance=_read_float(env, "PV_QUANTITY_TOLERANCE", defaults.quantity_tolerance),
            dose_tolerance=_read_float(env, "PV_DOSE_TOLERANCE", defaults.dose_tolerance),
        )


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"
