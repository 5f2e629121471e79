"""Keyset pagination: an opaque cursor carries the sort key of the last item served."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter

from pv_service.errors import Problem
from pv_service.rules.field_error import FieldError

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Items per page")]


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).decode().rstrip("=")


def decode_cursor(cursor: str, types: tuple[type, ...]) -> list[Any]:
    """The key behind a cursor, checked against the expected types; a forged cursor is a 400."""
    try:
        key = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, msgspec.DecodeError):
        key = None
    if (
        not isinstance(key, list)
        or len(key) != len(types)
        or not all(isinstance(v, t) for v, t in zip(key, types, strict=True))
    ):
        raise bad_cursor()
    return key


def bad_cursor() -> Problem:
    message = "The cursor is not one this service issued."
    return Problem(400, message, [FieldError("cursor", "invalid_value", message)])
