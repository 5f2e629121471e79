"""Weekly signal digests for PV staff (SPEC §6, §14): JSON, CSV or an HTML page with charts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.openapi import ResponseSpec
from litestar.params import PathParameter, QueryParameter

from pv_service.auth import BEARER, allow
from pv_service.di import Context, PageAsked
from pv_service.digests import render, service
from pv_service.digests.schemas import DigestBody, DigestEntry
from pv_service.errors import problem_responses
from pv_service.openapi import TEXT, documented_operation
from pv_service.pagination import Page

DigestFormat = Literal["json", "csv", "html"]
# Litestar adds "; charset=utf-8" to text types itself.
MEDIA_TYPES: dict[DigestFormat, str] = {
    "json": "application/json",
    "csv": "text/csv",
    "html": "text/html",
}
DIGEST_ANSWER = {
    200: ResponseSpec(
        data_container=DigestBody,
        description="The digest as JSON, or as text/csv (one row per pair) or text/html (the page with charts)",
        generate_examples=False,
    )
}
# The service checks the week itself (400 otherwise, SPEC §14); the pattern documents the form it takes.
Week = Annotated[str, PathParameter(schema_extra={"pattern": r"^[0-9]{4}-W[0-9]{2}$"})]
STAFF = [allow("pv_staff")]


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

    # The guards are the routes' own, not the controller's: a controller's guards also guard the OPTIONS
    # answer Litestar adds, which comes unauthenticated, so they failed with a 500 there.
    @get("/", guards=STAFF, responses=problem_responses(400, 403), summary="Stored digests")
    async def digests(self, context: Context, page: PageAsked) -> Page[DigestEntry]:
        return await service.list_digests(context, page.cursor, page.limit)

    @get(
        "/{week:str}",
        guards=STAFF,
        responses={**DIGEST_ANSWER, **problem_responses(400, 403, 404)},
        operation_class=documented_operation(also_answers={"text/csv": TEXT, "text/html": TEXT}),
        summary="A week's digest as JSON, CSV or an HTML page with charts (?format= or Accept)",
    )
    async def digest(
        self,
        week: Week,
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
