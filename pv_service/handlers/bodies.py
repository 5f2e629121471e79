"""JSON request bodies held to the types the OpenAPI document declares for them.

Litestar converts a decoded body into its handler's type leniently (``msgspec.convert(strict=False)``, which
query strings need), so a body said to take a boolean or a number also took ``0``, ``"true"`` or ``"2.5"``:
schemathesis sent ``{"force": 0}`` to ``POST /api/v1/jobs/{name}/runs`` and it ran. ``strict_body`` is a
``before_request`` hook that refuses, with 400, a body that only such a conversion makes acceptable; every
other body goes on to Litestar's decoding, which answers its errors as before. It runs after the checks
that SPEC §14 puts before a 400 (``first``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request

from pv_service.errors import MalformedRequest, decode_error_to_field_error

BodyCheck = Callable[[Request[Any, Any, Any]], Awaitable[None]]


def strict_body(body_type: Any, *, first: BodyCheck | None = None) -> BodyCheck:
    """A hook answering 400 to a JSON body whose values take ``body_type`` only once converted from another
    type (a number written as text, a boolean as 0 or 1). ``first`` runs before it (404, 412 or 428 win)."""
    strict = msgspec.json.Decoder(body_type)

    async def check(request: Request[Any, Any, Any]) -> None:
        if first is not None:
            await first(request)
        raw = await request.body()
        try:
            strict.decode(raw)
        except msgspec.ValidationError as exc:
            if _converts(raw, body_type):
                raise MalformedRequest([decode_error_to_field_error(str(exc), body_type)]) from None
        except msgspec.DecodeError:
            pass  # not JSON, or empty: Litestar's own decoding answers it

    return check


def _converts(raw: bytes, body_type: Any) -> bool:
    """Whether Litestar's lenient conversion would accept the body."""
    try:
        msgspec.convert(msgspec.json.decode(raw), body_type, strict=False, str_keys=True)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    return True
