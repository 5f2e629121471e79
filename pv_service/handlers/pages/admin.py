"""The administration page (SPEC §15): import registry NDJSON and read the per-line report, create users,
issue tokens (each shown once), list and revoke them.

Every form posts to ``POST /admin`` and names what it does in a hidden ``operation`` field. The import is
the API's streaming import (``registry.service.import_ndjson``, ``PV_IMPORT_MAX_BYTES``), users and tokens the
CLI's use cases (``users.service``); each of them audits the change as the signed-in admin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.response import Redirect, Template

from pv_service.di import Context, PageAsked
from pv_service.errors import Problem
from pv_service.handlers.pages import web
from pv_service.handlers.pages.labels import N_, Labels, Worded, worded_pages
from pv_service.handlers.pages.web import SignedIn
from pv_service.pagination import DEFAULT_LIMIT
from pv_service.registry import service as registry_service
from pv_service.registry.schemas import ImportReport
from pv_service.users import service as users_service
from pv_service.users.schemas import ROLES, IssuedToken, TokenView, UserView
from pv_service.users.service import UserError

CHUNK_BYTES = 64 * 1024
# A lifetime typed with more digits than this is no number of days (and would overflow a date).
DAYS_DIGITS = 5


@dataclass(frozen=True, slots=True)
class AdminForms:
    """What the page shows besides its lists: the values typed, the errors met and the results of a POST."""

    operation: str = ""
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    import_error: str = ""
    report: ImportReport | None = None
    issued: IssuedToken | None = None


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK_BYTES):
        yield chunk


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


class AdminPages(Controller):
    include_in_schema = False
    dependencies: ClassVar[dict[str, Provide]] = worded_pages("admin")

    async def _page(
        self,
        request: Request[Any, Any, Any],
        viewer: SignedIn,
        context: Context,
        labels: Labels,
        forms: AdminForms,
        *,
        cursor: str | None = None,
        tokens_of: str = "",
        status_code: int = 200,
    ) -> Template:
        users = await users_service.list_users(context, cursor, DEFAULT_LIMIT)
        owner: UserView | None = None
        tokens: list[TokenView] = []
        if tokens_of:
            owner, tokens = await users_service.user_tokens(context, tokens_of)
        response = web.page(
            request,
            "admin.html",
            viewer,
            status_code=status_code,
            forms=forms,
            users=users.items,
            next_cursor=users.next_cursor,
            paged=bool(cursor),
            tokens_of=tokens_of,
            owner=owner,
            tokens=tokens,
            roles=ROLES,
            token_days=context.settings.token_days,
            import_limit_mib=context.settings.import_max_bytes / 2**20,
            created=request.query_params.get("created", ""),
            revoked=request.query_params.get("revoked", ""),
            labels=labels,
        )
        if forms.issued is not None:
            # The token is on this page alone: no cache keeps a copy.
            response.headers["Cache-Control"] = "no-store"
        return response

    @get("/admin")
    async def admin(
        self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context, labels: Worded, page: PageAsked
    ) -> Template:
        tokens_of = (request.query_params.get("tokens") or "").strip()
        return await self._page(request, viewer, context, labels, AdminForms(), cursor=page.cursor, tokens_of=tokens_of)

    # The import's file may be large: the pages' router bounds the body by PV_IMPORT_MAX_BYTES.
    @post("/admin")
    async def change(
        self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context, labels: Worded
    ) -> Template | Redirect:
        form = await request.form()
        operation = _text(form, "operation")
        if operation == "import":
            return await self._import(request, viewer, context, labels, form.get("file"))
        if operation == "create_user":
            values = {name: _text(form, name) for name in ("rpps", "role", "name")}
            try:
                user = await users_service.add_user(context, **values, actor=viewer.rpps)
            except UserError as exc:
                forms = AdminForms(operation, values, {exc.error.field: labels.message(exc.error.message)})
                return await self._page(request, viewer, context, labels, forms)
            return web.see_other(f"/admin?created={user.rpps}#users")
        if operation == "create_token":
            return await self._issue(request, viewer, context, labels, _text(form, "rpps"), _text(form, "days"))
        if operation == "revoke_token":
            try:
                token = await users_service.withdraw_token(context, _text(form, "token_id"), actor=viewer.rpps)
            except UserError as exc:
                forms = AdminForms(operation, errors={"token_id": labels.message(exc.error.message)})
                return await self._page(request, viewer, context, labels, forms, status_code=404)
            return web.see_other(f"/admin?tokens={token.user}&revoked={token.id}#tokens")
        forms = AdminForms(operation, import_error=labels.say(N_("This form does not say what to do.")))
        return await self._page(request, viewer, context, labels, forms, status_code=400)

    async def _import(
        self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context, labels: Labels, upload: Any
    ) -> Template:
        if not isinstance(upload, UploadFile) or not upload.filename:
            forms = AdminForms("import", errors={"file": labels.say(N_("Choose an NDJSON file to import."))})
            return await self._page(request, viewer, context, labels, forms)
        try:
            report = await registry_service.import_ndjson(
                context, _chunks(upload), actor=viewer.rpps, max_bytes=context.settings.import_max_bytes
            )
        except Problem as problem:
            if problem.status_code not in (409, 413):
                raise
            forms = AdminForms("import", import_error=labels.message(problem.detail_text))
            return await self._page(request, viewer, context, labels, forms, status_code=problem.status_code)
        finally:
            await upload.close()
        return await self._page(request, viewer, context, labels, AdminForms("import", report=report))

    async def _issue(
        self,
        request: Request[Any, Any, Any],
        viewer: SignedIn,
        context: Context,
        labels: Labels,
        rpps: str,
        days_text: str,
    ) -> Template:
        values = {"rpps": rpps, "days": days_text}
        days: int | None = None
        if days_text:
            # Read as a number here; how long a token may last is the service's to say.
            if not days_text.isdigit() or len(days_text) > DAYS_DIGITS:
                errors = {"days": labels.say(N_("Write a whole number of days, for example 90."))}
                return await self._page(request, viewer, context, labels, AdminForms("create_token", values, errors))
            days = int(days_text)
        try:
            issued = await users_service.add_token(context, rpps=rpps, days=days, actor=viewer.rpps)
        except UserError as exc:
            errors = {exc.error.field: labels.message(exc.error.message)}
            return await self._page(request, viewer, context, labels, AdminForms("create_token", values, errors))
        forms = AdminForms("create_token", issued=issued)
        return await self._page(request, viewer, context, labels, forms, tokens_of=rpps)
