"""The migrations build the schema the models describe: Alembic's autogenerate finds nothing to add.

Runs on every backend of the suite (SQLite always, PostgreSQL when ``PV_TEST_POSTGRES_URL`` is set), on the
database the session fixture migrated with ``pv_service.storage.migrate.upgrade``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData
from sqlalchemy.engine import Connection

from pv_service.config import sqlite_url
from pv_service.storage.database import Database
from pv_service.storage.migrate import upgrade
from pv_service.storage.models import Base


def _differences(connection: Connection, metadata: MetaData) -> list[Any]:
    # The options of migrations/env.py, and server defaults too: a default the models set in the database
    # must be the one the migrations wrote.
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return compare_metadata(context, metadata)


async def differences(url: str, metadata: MetaData = Base.metadata) -> list[Any]:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(_differences, metadata)
    finally:
        await database.dispose()


async def test_migrated_schema_matches_the_models(migrated_url: str) -> None:
    assert await differences(migrated_url) == []


async def test_a_column_the_migrations_lack_is_found(migrated_url: str) -> None:
    # Guards the test above against comparing nothing: one column more in the models is a difference.
    models = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(models)
    models.tables["cases"].append_column(Column("probe", Integer, nullable=True))
    found = await differences(migrated_url, models)
    assert [(kind, table, column.name) for kind, _, table, column in found] == [("add_column", "cases", "probe")]


async def test_a_database_short_of_the_last_migration_differs(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "behind.db")
    database = Database(url)
    await upgrade(database, "0006")
    await database.dispose()
    found = await differences(url)
    assert sorted(entry[0] for entry in found) == ["add_column", "add_index", "add_index", "add_table"]
    assert {entry[1].name for entry in found if entry[0] == "add_table"} == {"digest_counts"}
    assert {entry[3].name for entry in found if entry[0] == "add_column"} == {"received_week"}
    assert {entry[1].name for entry in found if entry[0] == "add_index"} == {
        "ix_cases_unforwarded",
        "ix_cases_forwarded",
    }
