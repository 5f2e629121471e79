"""What every use case and job of one instance works with, built in one way from settings: the app, the
command line, the demo and the benchmark all call ``ServiceContext.from_settings`` or ``open_context``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pv_service.cases.schemas import AcceptedReport, CaseAnswer
from pv_service.config import Settings
from pv_service.reference import ReferenceData, load_reference
from pv_service.storage.database import Database
from pv_service.storage.group_commit import GroupCommit
from pv_service.storage.migrate import upgrade
from pv_service.users.token_cache import TokenCache


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    database: Database
    reference: ReferenceData
    # This instance's verified bearer tokens: one per app, not per process.
    verified_tokens: TokenCache = field(default_factory=TokenCache)
    # This instance's report writes waiting for their group commit.
    report_writes: GroupCommit[AcceptedReport, CaseAnswer] = field(default_factory=GroupCommit)

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceContext:
        """The context of ``settings``; its database connects on first use and is closed by ``close``."""
        return cls(
            settings=settings, database=Database(settings.database_url), reference=load_reference(settings.schemas_dir)
        )

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            await upgrade(self.database)

    async def close(self) -> None:
        await self.database.dispose()


@asynccontextmanager
async def open_context(settings: Settings) -> AsyncIterator[ServiceContext]:
    """A started context (migrated unless the settings say not to), closed on exit."""
    context = ServiceContext.from_settings(settings)
    try:
        await context.start()
        yield context
    finally:
        await context.close()
