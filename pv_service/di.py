"""The dependencies handlers declare, with explicit markers (Litestar 3-ready)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from pv_service.context import ServiceContext
from pv_service.users import Caller

Context = NamedDependency[ServiceContext]
CurrentCaller = NamedDependency[Caller]


def _context(state: State) -> ServiceContext:
    return state.context  # type: ignore[no-any-return]


def _caller(request: Request[Any, Any, Any]) -> Caller:
    return request.user  # type: ignore[no-any-return]


DEPENDENCIES = {
    "context": Provide(_context, sync_to_thread=False),
    "caller": Provide(_caller, sync_to_thread=False),
}
