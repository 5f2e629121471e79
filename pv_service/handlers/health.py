"""Liveness for operators and load balancers: the database answers, the scheduler runs."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from sqlalchemy import text

from pv_service.context import ServiceContext


class Health(msgspec.Struct):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]
    scheduler: Literal["running", "disabled", "stopped"]


@get(
    "/health",
    tags=["operations"],
    responses={503: ResponseSpec(data_container=Health, description="The database does not answer")},
    summary="Database and scheduler state",
)
async def health(state: State) -> Response[Health]:
    context: ServiceContext = state.context
    database: Literal["ok", "error"] = "ok"
    try:
        async with context.database.read_session() as session:
            await session.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database is what this endpoint reports
        database = "error"
    scheduler: Literal["running", "disabled", "stopped"] = state.get("scheduler_state", "disabled")
    body = Health(status="ok" if database == "ok" else "degraded", database=database, scheduler=scheduler)
    return Response(body, status_code=200 if database == "ok" else 503)
