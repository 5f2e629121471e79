"""The dependencies handlers declare, with explicit markers (Litestar 3-ready); ``PvServicePlugin`` provides them."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from pv_service.context import ServiceContext
from pv_service.pagination import PageRequest
from pv_service.users.schemas import Caller

Context = NamedDependency[ServiceContext]
CurrentCaller = NamedDependency[Caller]
PageAsked = NamedDependency[PageRequest]


def service_context(state: State) -> ServiceContext:
    return state.context  # type: ignore[no-any-return]


def current_caller(request: Request[Any, Any, Any]) -> Caller:
    return request.user  # type: ignore[no-any-return]
