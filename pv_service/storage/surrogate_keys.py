"""Surrogate keys taken before a flush, so that the unit of work writes a group's new rows in one statement
per table.

SQLite cannot tie the keys a multi-row ``INSERT … RETURNING`` gives back to the rows sent, so SQLAlchemy
writes each row whose key the database generates in a statement of its own; rows that arrive with their
keys are written together. On SQLite the keys follow the table's largest (the caller holds the write lock,
so no other writer takes the same); on PostgreSQL they come from the column's own sequence.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Integer, Table, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from pv_service.storage.dialect import is_sqlite


async def take_keys(session: AsyncSession, table: Table, count: int) -> list[int]:
    """``count`` unused values of ``table``'s integer key, in ascending order (the session's pending objects
    are not flushed first: they are what the keys are for)."""
    (column,) = table.primary_key.columns
    with session.no_autoflush:
        if is_sqlite(session):
            largest = await session.scalar(select(func.max(column)))
            return list(range((largest or 0) + 1, (largest or 0) + count + 1))
        sequence = func.pg_get_serial_sequence(table.name, column.name)
        keys = await session.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, count)))
    return sorted(keys)


def _keyless(instance: Any) -> tuple[Table, str] | None:
    """The table and key attribute of a new object whose database-generated key is not set yet."""
    mapper = inspect(instance).mapper
    columns = mapper.primary_key
    if len(columns) != 1 or columns[0].autoincrement is not True or not isinstance(columns[0].type, Integer):
        return None
    attribute = mapper.get_property_by_column(columns[0]).key
    return (mapper.local_table, attribute) if getattr(instance, attribute) is None else None


async def key_new_rows(session: AsyncSession) -> None:
    """Give each new object of the session that waits for a generated key one, in the order they were added
    (an audit trail's order is its keys')."""
    waiting: dict[tuple[Table, str], list[Any]] = defaultdict(list)
    for instance in sorted(session.new, key=lambda new: inspect(new).insert_order):
        keyless = _keyless(instance)
        if keyless is not None:
            waiting[keyless].append(instance)
    for (table, attribute), instances in waiting.items():
        for instance, key in zip(instances, await take_keys(session, table, len(instances)), strict=True):
            setattr(instance, attribute, key)
