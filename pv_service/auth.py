"""Bearer-token authentication and role guards (SPEC §1).

Order of refusals, SPEC §14: no, unknown, revoked or expired token → 401; a role that may never use
the endpoint → 403; anything outside the caller's reach is answered 404 further down.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Guard

from pv_service.context import ServiceContext
from pv_service.errors import Problem, RoleNotAllowed
from pv_service.users.schemas import Caller, Role
from pv_service.users.service import authenticate

UNAUTHENTICATED_PATHS = ["^/health", "^/schema"]
# The name of the bearer-token security scheme in the OpenAPI document.
BEARER = "BearerToken"


def _unauthenticated(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="pv_service"'})


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("A bearer token is required.")
        context: ServiceContext = connection.app.state.context
        caller = await authenticate(context, token.strip())
        if caller is None:
            raise _unauthenticated("The token is unknown, revoked or expired.")
        return AuthenticationResult(user=caller, auth=None)


def allow(*roles: Role) -> Guard:
    """A guard letting only the given roles through; the others get 403. A coroutine: Litestar would run a
    plain function in a worker thread, a thread hop on every request."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        caller: Caller = connection.user
        if caller.role not in roles:
            raise RoleNotAllowed(caller.role)

    return guard
