"""The reporting-aid form as data, for clients that render it (SPEC §3)."""

from __future__ import annotations

from litestar import Response, get

from pv_service.di import Context
from pv_service.errors import problem_responses


@get("/api/v1/forms/adverse-event", tags=["reports"], responses=problem_responses(), summary="The reporting-aid form")
async def adverse_event_form(context: Context) -> Response[bytes]:
    return Response(context.reference.documents["form"], media_type="application/json")
