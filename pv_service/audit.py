"""The append-only audit log: who did what, when, with the state before and after."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.clock import utc_now
from pv_service.storage.models import AuditEntry


async def record_audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=utc_now(), actor=actor, action=action, entity=entity, entity_id=entity_id, before=before, after=after
        )
    )


async def record_audit_many(session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    """Bulk form for imports: each entry has the keyword arguments of ``record_audit``."""
    if entries:
        now = utc_now()
        await session.execute(insert(AuditEntry), [{"at": now, "before": None, "after": None, **e} for e in entries])
