"""JSON request bodies held to the types the OpenAPI document declares for them.

Litestar converts a decoded body into its handler's type leniently (``msgspec.convert(strict=False)``, which
query strings need), so a body said to take a boolean or a number also took ``0``, ``"true"`` or ``"2.5"``:
schemathesis sent ``{"force": 0}`` to ``POST /api/v1/jobs/{name}/runs`` and it ran. ``strict_body`` is a
``before_request`` hook that decodes the raw body strictly first and answers a value of the wrong type 400,
as every other shape error; it runs after the checks that SPEC §14 puts before a 400 (``first``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request

from pv_service.errors import MalformedRequest, decode_error_to_field_error

BodyCheck = Callable[[Request[Any, Any, Any]], Awaitable[None]]


def strict_body(body_type: Any, *, first: BodyCheck | None = None) -> BodyCheck:
    """A hook refusing, with 400, a JSON body whose values do not have the types of ``body_type``.

    ``first`` runs before (a 404, 412 or 428 wins over a 400). An empty body, or one that is not JSON at all,
    is left to the handler's own decoding, which answers it as before.
    """
    decoder = msgspec.json.Decoder(body_type)

    async def check(request: Request[Any, Any, Any]) -> None:
        if first is not None:
            await first(request)
        raw = await request.body()
        if not raw.strip():
            return
        try:
            decoder.decode(raw)
        except msgspec.ValidationError as exc:
            raise MalformedRequest([decode_error_to_field_error(str(exc))]) from None
        except msgspec.DecodeError:
            return

    return check
