"""Keyset pagination: an opaque cursor carries the sort key of the last item served, so a page never
serves an item twice nor skips one while new ones arrive."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import FromQuery, QueryParameter
from sqlalchemy import ColumnElement, Select, bindparam, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from pv_service.errors import bad_request

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Every id the service stores is a signed 64-bit integer.
MIN_KEY, MAX_KEY = -(2**63), 2**63 - 1
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Items per page")]


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page a list endpoint is asked for: after ``cursor``, ``limit`` items."""

    cursor: str | None
    limit: int


def page_request(cursor: FromQuery[str | None] = None, limit: Limit = DEFAULT_LIMIT) -> PageRequest:
    """The ``cursor`` and ``limit`` query parameters every list endpoint takes (a dependency)."""
    return PageRequest(cursor=cursor, limit=limit)


def encode_cursor(key: Sequence[Any]) -> str:
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in key]
    return base64.urlsafe_b64encode(msgspec.json.encode(plain)).decode().rstrip("=")


def decode_cursor(cursor: str, types: Sequence[type]) -> list[Any]:
    """The key behind a cursor, checked against the expected types; a forged cursor is a 400."""
    try:
        key = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, msgspec.DecodeError):
        key = None
    if not isinstance(key, list) or len(key) != len(types):
        raise bad_cursor()
    try:
        return [_typed(value, kind) for value, kind in zip(key, types, strict=True)]
    except (TypeError, ValueError):
        raise bad_cursor() from None


def _typed(value: Any, kind: type) -> Any:
    if kind is datetime and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("a cursor's instants are in UTC")
        return moment
    # bool is an int in Python, but never a cursor's number
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise TypeError(kind)
    if isinstance(value, int) and not MIN_KEY <= value <= MAX_KEY:
        raise ValueError("a cursor's numbers are 64-bit")
    return value


def _python_type(column: InstrumentedAttribute[Any]) -> type:
    """What a column holds in Python; a TypeDecorator says it of its implementation."""
    column_type = getattr(column.type, "impl_instance", column.type)
    return column_type.python_type


def bad_cursor() -> Exception:
    return bad_request("cursor", "The cursor is not one this service issued.")


@dataclass(frozen=True)
class Keyset:
    """A page order on unique columns, all ascending or all descending; the cursor is the last row's key."""

    columns: tuple[InstrumentedAttribute[Any], ...]
    descending: bool = False

    def _after(self, cursor: str) -> ColumnElement[bool]:
        key = decode_cursor(cursor, [_python_type(column) for column in self.columns])
        if len(self.columns) == 1:
            (column,), (value,) = self.columns, key
            return column < value if self.descending else column > value
        bound = tuple_(*(bindparam(None, v, type_=c.type) for c, v in zip(self.columns, key, strict=True)))
        ordered = tuple_(*self.columns)
        return ordered < bound if self.descending else ordered > bound

    def query(self, query: Select[Any], cursor: str | None, limit: int) -> Select[Any]:
        """``query`` restricted to the rows after the cursor, in order, one more than a page to tell if more follow."""
        if cursor:
            query = query.where(self._after(cursor))
        order = [column.desc() if self.descending else column for column in self.columns]
        return query.order_by(*order).limit(limit + 1)

    def page(self, rows: Sequence[R], limit: int, key: Callable[[R], Sequence[Any]], view: Callable[[R], T]) -> Page[T]:
        """The page of ``rows`` (fetched by ``query``): each mapped by ``view``, the cursor from the last row's key."""
        shown = rows[:limit]
        next_cursor = encode_cursor(key(shown[-1])) if len(rows) > limit else None
        return Page(items=[view(row) for row in shown], next_cursor=next_cursor)
