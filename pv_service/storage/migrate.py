"""Schema migrations (Alembic), applied by ``pv-service db upgrade`` and at start.

Several instances may start together on one PostgreSQL database: the upgrade runs under an advisory
lock (SQLite's ``BEGIN IMMEDIATE`` does the same), so exactly one of them applies each revision.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from pv_service.storage.database import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK_KEY = 0x70765F6D6967  # "pv_mig"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade_on(sync_connection: Any, config: Config, revision: str) -> None:
    # Alembic's progress lines are noise in the service's log and the CLI's output.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    config.attributes["connection"] = sync_connection
    command.upgrade(config, revision)


async def upgrade(database: Database, revision: str = "head") -> None:
    config = alembic_config()
    async with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        await connection.run_sync(_upgrade_on, config, revision)
