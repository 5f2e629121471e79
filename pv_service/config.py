"""Settings, read once from ``PV_*`` environment variables.

Every tunable of the service lives here, each field with its variable beside its default, so that a reader
finds them in one place; the README's settings table lists the same names and defaults.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, get_args, get_type_hints
from zoneinfo import ZoneInfo


class SettingsError(ValueError):
    """A ``PV_*`` variable holds a value the service cannot use."""


def _env(name: str) -> dict[str, str]:
    return {"env": name}


@dataclass(frozen=True)
class Settings:
    """What one service instance runs with."""

    data_dir: Path = field(default=Path("data"), metadata=_env("PV_DATA_DIR"))
    # Blank: a SQLite file in ``data_dir`` (see ``__post_init__``).
    database_url: str = field(default="", metadata=_env("PV_DATABASE_URL"))
    time_zone: str = field(default="Europe/Paris", metadata=_env("PV_TIME_ZONE"))
    # ANSM: the experimentation started on 2021-03-26; no inclusion from 2024-03-27 on.
    experimentation_start: date = field(default=date(2021, 3, 26), metadata=_env("PV_EXPERIMENTATION_START"))
    inclusion_cutoff: date = field(default=date(2024, 3, 27), metadata=_env("PV_INCLUSION_CUTOFF"))
    # Unset while the experimentation runs: retention removes nothing and writes stay open.
    experimentation_end: date | None = field(default=None, metadata=_env("PV_EXPERIMENTATION_END"))
    # Registry records other than cases are deleted this many years after their patient's pseudonymisation.
    retention_records_years: int = field(default=10, metadata=_env("PV_RETENTION_RECORDS_YEARS"))
    max_body_bytes: int = field(default=1024 * 1024, metadata=_env("PV_MAX_BODY_BYTES"))
    import_max_bytes: int = field(default=256 * 1024 * 1024, metadata=_env("PV_IMPORT_MAX_BYTES"))
    # Open connections beyond which a request is answered 503 (well above the 300 slow clients of SPEC §15).
    max_connections: int = field(default=1000, metadata=_env("PV_MAX_CONNECTIONS"))
    # The request line and headers must be in this long after the connection opens or a next request starts.
    header_timeout_seconds: int = field(default=10, metadata=_env("PV_HEADER_TIMEOUT_SECONDS"))
    # Longest pause between two parts of a request body being read (nginx's client_body_timeout); then 408.
    body_timeout_seconds: int = field(default=30, metadata=_env("PV_BODY_TIMEOUT_SECONDS"))
    # A connection with no request under way is closed after this long without a byte.
    idle_timeout_seconds: int = field(default=5, metadata=_env("PV_IDLE_TIMEOUT_SECONDS"))
    token_days: int = field(default=90, metadata=_env("PV_TOKEN_DAYS"))
    # A verified bearer token is trusted this long without a lookup: a revocation made by another process
    # (the command line, another instance) is refused at most this late; 0 looks every token up.
    token_cache_seconds: float = field(default=5.0, metadata=_env("PV_TOKEN_CACHE_SECONDS"))
    scheduler_enabled: bool = field(default=True, metadata=_env("PV_SCHEDULER_ENABLED"))
    secret_key: str = field(default="", metadata=_env("PV_SECRET_KEY"))
    # None: the reference data and form shipped in the package (``pv_service.reference.schemas_root``).
    schemas_dir: Path | None = field(default=None, metadata=_env("PV_SCHEMAS_DIR"))
    migrate_on_start: bool = field(default=True, metadata=_env("PV_MIGRATE_ON_START"))
    # A running job's claim may be taken over once its heartbeat is older than this.
    job_lease_seconds: int = field(default=300, metadata=_env("PV_JOB_LEASE_SECONDS"))
    job_max_attempts: int = field(default=3, metadata=_env("PV_JOB_MAX_ATTEMPTS"))
    # Early refill: before previous date + days_supply × (1 − tolerance).
    refill_tolerance: float = field(default=0.2, metadata=_env("PV_REFILL_TOLERANCE"))
    # Cumulative quantity above prescribed dose × days × (1 + tolerance).
    quantity_tolerance: float = field(default=0.1, metadata=_env("PV_QUANTITY_TOLERANCE"))
    # Reported daily dose farther than this (relative) from the dispensed one.
    dose_tolerance: float = field(default=0.25, metadata=_env("PV_DOSE_TOLERANCE"))

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", sqlite_url(self.data_dir / "pv_service.db"))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Each field from its variable; a variable unset or blank keeps the field's default."""
        env = os.environ if env is None else env
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = spec.metadata["env"]
            raw = env.get(name, "")
            if raw.strip():
                values[spec.name] = _read(name, raw, hints[spec.name])
        settings = cls(**values)
        try:
            ZoneInfo(settings.time_zone)
        except (KeyError, ValueError) as exc:
            raise SettingsError(f"PV_TIME_ZONE is not a known time zone: {settings.time_zone!r}") from exc
        return settings


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


# How a variable's text becomes each field type, and what the error says it must be.
_CONVERSIONS: dict[type, tuple[Callable[[str], Any], str]] = {
    str: (str, "text"),
    Path: (Path, "a path"),
    int: (int, "an integer"),
    float: (float, "a number"),
    bool: (_boolean, "true or false"),
    date: (lambda raw: date.fromisoformat(raw.strip()), "an ISO date (YYYY-MM-DD)"),
}


def _field_type(hint: Any) -> type:
    """The type a field's value converts to: ``X`` for ``X`` and for ``X | None``."""
    if isinstance(hint, types.UnionType):
        (kind,) = (arg for arg in get_args(hint) if arg is not types.NoneType)
        return kind
    return hint


def _read(name: str, raw: str, hint: Any) -> Any:
    """``raw``, the text of variable ``name``, converted to the field type ``hint``."""
    convert, expected = _CONVERSIONS[_field_type(hint)]
    try:
        return convert(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be {expected}, got {raw!r}") from exc


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"
