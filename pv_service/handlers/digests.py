"""Weekly signal digests for PV staff (SPEC §6, §14): JSON, CSV or an HTML page with charts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.params import FromPath, QueryParameter

from pv_service.auth import BEARER, allow
from pv_service.di import Context, PageAsked
from pv_service.digests import render, service
from pv_service.digests.schemas import DigestEntry
from pv_service.errors import problem_responses
from pv_service.pagination import Page

DigestFormat = Literal["json", "csv", "html"]
# Litestar adds "; charset=utf-8" to text types itself.
MEDIA_TYPES: dict[DigestFormat, str] = {
    "json": "application/json",
    "csv": "text/csv",
    "html": "text/html",
}


def _negotiated(request: Request[Any, Any, Any], explicit: DigestFormat | None) -> DigestFormat:
    """``?format=`` wins over ``Accept``; JSON unless the client prefers CSV or HTML."""
    if explicit is not None:
        return explicit
    offered = {"application/json": "json", "text/csv": "csv", "text/html": "html"}
    best = request.accept.best_match(list(offered), default="application/json")
    return offered.get(best or "application/json", "json")  # type: ignore[return-value]


class DigestsController(Controller):
    path = "/api/v1/digests"
    security = ({BEARER: []},)
    tags = ("digests",)
    guards = (allow("pv_staff"),)

    @get("/", responses=problem_responses(400, 403), summary="Stored digests")
    async def digests(self, context: Context, page: PageAsked) -> Page[DigestEntry]:
        return await service.list_digests(context, page.cursor, page.limit)

    @get(
        "/{week:str}",
        responses=problem_responses(400, 403, 404),
        summary="A week's digest as JSON, CSV or an HTML page with charts (?format= or Accept)",
    )
    async def digest(
        self,
        week: FromPath[str],
        context: Context,
        request: Request[Any, Any, Any],
        output: Annotated[DigestFormat | None, QueryParameter(name="format")] = None,
    ) -> Response[Any]:
        body = await service.get_digest(context, week)
        chosen = _negotiated(request, output)
        content: Any = body
        if chosen == "csv":
            content = render.digest_csv(body)
        elif chosen == "html":
            content = render.digest_html(body)
        return Response(content, media_type=MEDIA_TYPES[chosen])
