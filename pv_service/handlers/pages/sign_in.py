"""Sign-in with a token, sign-out, and the home that sends each role to its first page (SPEC §15)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from pv_service.di import Context
from pv_service.handlers.pages.web import (
    HOMES,
    close_session,
    current_user,
    local_path,
    open_session,
    page,
    see_other,
)
from pv_service.users.service import sign_in


class SignInController(Controller):
    include_in_schema = False

    @get("/")
    async def home(self, request: Request[Any, Any, Any]) -> Redirect:
        user = await current_user(request)
        return see_other(HOMES[user.role] if user is not None else "/login")

    @get("/login")
    async def login_form(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "login.html", next=request.query_params.get("next", ""), failed=False)

    @post("/login")
    async def login(self, request: Request[Any, Any, Any], context: Context) -> Template | Redirect:
        form = await request.form()
        signed = await sign_in(context, str(form.get("token", "")))
        target = str(form.get("next", ""))
        if signed is None:
            return page(request, "login.html", next=target, failed=True)
        token_id, user = signed
        open_session(request, token_id)
        return see_other(local_path(target, HOMES[user.role]))

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        close_session(request)
        return see_other("/login")
