"""Reading digests (SPEC §14): stored weeks as produced; the current week computed live and not stored;
a past week never produced, or a future one, is 404."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import select

from pv_service.clock import utc_now
from pv_service.context import ServiceContext
from pv_service.errors import Problem, not_found
from pv_service.jobs.digest import DigestBody, build_digest
from pv_service.jobs.periods import parse_period, period_containing
from pv_service.pagination import Page, decode_cursor, encode_cursor
from pv_service.rules.field_error import FieldError
from pv_service.storage.models import Digest


class DigestEntry(msgspec.Struct, frozen=True):
    week: str
    produced_at: datetime


async def get_digest(context: ServiceContext, week: str) -> DigestBody:
    try:
        period = parse_period("week", week)
    except ValueError as exc:
        raise Problem(400, str(exc), [FieldError("week", "invalid_value", str(exc))]) from None
    today = utc_now().astimezone(context.settings.zone).date()
    if period.key == period_containing("week", today).key:
        return await build_digest(context, period)
    async with context.database.read_session() as session:
        stored = await session.scalar(select(Digest.body).where(Digest.week == period.key))
    if stored is None:
        raise not_found("digest")
    return msgspec.convert(stored, DigestBody)


async def list_digests(context: ServiceContext, cursor: str | None, limit: int) -> Page[DigestEntry]:
    query = select(Digest.week, Digest.produced_at)
    if cursor:
        (before,) = decode_cursor(cursor, (str,))
        query = query.where(Digest.week < before)
    async with context.database.read_session() as session:
        rows = list(await session.execute(query.order_by(Digest.week.desc()).limit(limit + 1)))
    items = [DigestEntry(week=w, produced_at=at) for w, at in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor([items[-1].week]) if len(rows) > limit else None)
