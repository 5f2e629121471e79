"""Engine and sessions for SQLite (embedded default) and PostgreSQL (scale-out), same code for both.

On SQLite every write transaction starts with ``BEGIN IMMEDIATE``: a deferred transaction that reads
and then writes can fail at once with "database is locked" under concurrent writers, whatever the busy
timeout. Long reads (jobs, digests) use the read-only engine, which begins deferred and never takes
the write lock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_READ_ONLY = "pv_read_only"
# A read of one statement needs no transaction around it: SQLite reads it from one snapshot all the same.
_ONE_STATEMENT = "pv_one_statement"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Each SQLite connection is a thread of its own (aiosqlite) opened with four PRAGMAs: kept open for as many
# requests as the service serves at once, rather than opened and closed again under load.
SQLITE_POOL_SIZE = 32
SQLITE_POOL_OVERFLOW = 32
# A PostgreSQL connection costs a server process and a handshake: the pool keeps as many as the requests
# served at once (a connection beyond it is closed again when returned, and under load reopened at once),
# with a small overflow, so that two instances stay under the server's default of 100 connections.
POSTGRES_POOL_SIZE = 32
POSTGRES_POOL_OVERFLOW = 8


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _install_sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (the driver's own would be deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(_ONE_STATEMENT, False):
            return
        read_only = options.get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(url: str) -> AsyncEngine:
    """The engine for ``url``; its errors never quote a statement's parameters, which may be a patient's data."""
    if url.startswith("sqlite"):
        _prepare_sqlite_file(url)
        engine = create_async_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_OVERFLOW,
            hide_parameters=True,
        )
        _install_sqlite_pragmas(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_POOL_OVERFLOW,
        pool_pre_ping=True,
        hide_parameters=True,
    )


def _one_writer_at_a_time() -> type[AsyncSession]:
    """SQLite admits one writer: queue this process's writers on an asyncio lock rather than in SQLite's
    busy handler, which sleeps in steps and leaves the lock idle between them."""
    lock = asyncio.Lock()

    class SerialisedWriteSession(AsyncSession):
        async def __aenter__(self) -> SerialisedWriteSession:
            await lock.acquire()
            return self

        async def __aexit__(self, *exc_info: object) -> None:
            try:
                await super().__aexit__(*exc_info)
            finally:
                lock.release()

    return SerialisedWriteSession


class Database:
    """The engine and the two session factories an instance works with."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        session_class = _one_writer_at_a_time() if url.startswith("sqlite") else AsyncSession
        self.sessions = async_sessionmaker(self.engine, class_=session_class, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )
        self.lookup_engine = self.engine.execution_options(**{_READ_ONLY: True, _ONE_STATEMENT: True})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> AsyncSession:
        return self.sessions()

    def read_session(self) -> AsyncSession:
        return self.read_sessions()

    def lookup_connection(self) -> AsyncConnection:
        """For a read of a single Core statement, as each report's first lookup is: no session around it, and
        on SQLite no BEGIN before it (each is a hop to the driver's thread and back); a second statement
        would see its own snapshot."""
        return self.lookup_engine.connect()

    async def dispose(self) -> None:
        await self.engine.dispose()
