"""What differs between the two engines: which one a session works on, and the INSERT construct with ON
CONFLICT for it (PostgreSQL or SQLite share the syntax)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


def is_sqlite(session: AsyncSession) -> bool:
    """Whether ``session`` works on SQLite (an unbound session is taken for the embedded default)."""
    return session.bind is None or session.bind.dialect.name == "sqlite"


def upsert_insert(session: AsyncSession, table: Any) -> Any:
    return (sqlite_insert if is_sqlite(session) else postgresql_insert)(table)
