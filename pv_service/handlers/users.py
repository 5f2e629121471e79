"""Who the caller is (SPEC §15): ``GET /api/v1/me``."""

from __future__ import annotations

from litestar import Controller, get

from pv_service.auth import BEARER
from pv_service.di import Context, CurrentCaller
from pv_service.errors import problem_responses
from pv_service.users import service
from pv_service.users.schemas import Me


class UsersController(Controller):
    path = "/api/v1"
    security = ({BEARER: []},)
    tags = ("users",)

    @get("/me", responses=problem_responses(), summary="The caller's RPPS, name and role")
    async def me(self, context: Context, caller: CurrentCaller) -> Me:
        return await service.me(context, caller)
