"""``OPTIONS`` that names every method of its path.

Litestar 2 adds an ``OPTIONS`` handler to a path when the path's first handler is registered and keeps it
when more come, so its ``Allow`` names only the first one's methods (litestar-org/litestar#4169, fixed in 3
only): ``OPTIONS /api/v1/reports`` said ``GET, OPTIONS`` and left out ``POST``. A controller (or router)
serving one path with several methods sets ``answer_options`` as its ``before_request``: it answers ``OPTIONS``
itself, from the methods the app routes to that path. tests/test_openapi.py checks the ``Allow`` of every path.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.status_codes import HTTP_204_NO_CONTENT


async def answer_options(request: Request[Any, Any, Any]) -> Response[None] | None:
    """For ``OPTIONS``, the answer with every method of the path in ``Allow``; ``None`` (go on) otherwise."""
    if request.method != "OPTIONS":
        return None
    # The OPTIONS handler Litestar made for the path is routed at exactly that path.
    routed = request.app.route_handler_method_map
    methods = {method for path in request.route_handler.paths for method in routed.get(path, {}) if method.isupper()}
    methods.add("OPTIONS")
    return Response(None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": ", ".join(sorted(methods))})
