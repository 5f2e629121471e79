"""Jobs, anomalies and digests for PV staff (SPEC §6, §14)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from pv_service.auth import allow
from pv_service.di import Context
from pv_service.errors import problem_responses
from pv_service.jobs import digest_render
from pv_service.jobs.anomalies import AnomalyView, list_anomalies
from pv_service.jobs.digest import DigestBody
from pv_service.jobs.digest_service import DigestEntry, get_digest, list_digests
from pv_service.jobs.service import JobView, RunView, list_jobs, list_runs, start_run
from pv_service.pagination import DEFAULT_LIMIT, Limit, Page

STAFF = [allow("pv_staff")]
AnomalyKind = Literal[
    "secure_supply_over_28_days", "supply_outside_prescription", "quantity_above_prescribed",
    "dispensation_without_prescription", "early_refill", "reported_dose_mismatch", "titration_start_too_high",
    "titration_increment_too_large", "titration_increase_too_soon", "titration_above_max_dose",
    "temporal_association", "positive_dechallenge", "positive_rechallenge", "consultation_missed",
    "follow_up_overdue", "triage_overdue",
]  # fmt: skip
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}


class RunRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    period: str | None = None
    force: bool = False


class JobList(msgspec.Struct, frozen=True):
    items: list[JobView]
    next_cursor: str | None = None


@get("/api/v1/jobs", tags=["jobs"], guards=STAFF, responses=problem_responses(403), summary="Jobs, next and last runs")
async def jobs(context: Context) -> JobList:
    return JobList(items=await list_jobs(context))


@post(
    "/api/v1/jobs/{name:str}/runs",
    tags=["jobs"],
    guards=STAFF,
    responses=problem_responses(400, 403, 404, 409, 422),
    summary="Run a job for a period (default: the last complete one); 200 when that period was already done",
)
async def run(name: FromPath[str], context: Context, data: JSONBody[RunRequest | None] = None) -> Response[RunView]:
    body = data or RunRequest()
    view, created = await start_run(context, name, body.period, force=body.force, trigger="api")
    return Response(view, status_code=201 if created else 200)


@get(
    "/api/v1/jobs/{name:str}/runs",
    tags=["jobs"],
    guards=STAFF,
    responses=problem_responses(400, 403, 404),
    summary="A job's runs, newest first",
)
async def runs(
    name: FromPath[str], context: Context, cursor: FromQuery[str | None] = None, limit: Limit = DEFAULT_LIMIT
) -> Page[RunView]:
    return await list_runs(context, name, cursor, limit)


@get(
    "/api/v1/anomalies",
    tags=["jobs"],
    guards=STAFF,
    responses=problem_responses(400, 403),
    summary="Cross-check findings, newest first",
)
async def anomalies(
    context: Context,
    kind: FromQuery[list[AnomalyKind] | None] = None,
    patient: FromQuery[str | None] = None,
    since: FromQuery[date | None] = None,
    cursor: FromQuery[str | None] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AnomalyView]:
    return await list_anomalies(context, kinds=kind or (), patient=patient, since=since, cursor=cursor, limit=limit)


@get("/api/v1/digests", tags=["digests"], guards=STAFF, responses=problem_responses(400, 403), summary="Stored digests")
async def digests(
    context: Context, cursor: FromQuery[str | None] = None, limit: Limit = DEFAULT_LIMIT
) -> Page[DigestEntry]:
    return await list_digests(context, cursor, limit)


def _negotiated(request: Request[Any, Any, Any], explicit: str | None) -> str:
    """``?format=`` wins over ``Accept``; JSON unless the client prefers CSV or HTML."""
    if explicit is not None:
        return explicit
    accept = request.headers.get("accept", "")
    for name, media in (("html", "text/html"), ("csv", "text/csv")):
        if media in accept and "application/json" not in accept:
            return name
    return "json"


@get(
    "/api/v1/digests/{week:str}",
    tags=["digests"],
    guards=STAFF,
    responses=problem_responses(400, 403, 404),
    summary="A week's digest as JSON, CSV or an HTML page with charts (?format= or Accept)",
)
async def digest(
    week: FromPath[str],
    context: Context,
    request: Request[Any, Any, Any],
    output: Annotated[Literal["json", "csv", "html"] | None, QueryParameter(name="format")] = None,
) -> Response[Any]:
    body: DigestBody = await get_digest(context, week)
    chosen = _negotiated(request, output)
    if chosen == "csv":
        content: Any = digest_render.digest_csv(body)
    elif chosen == "html":
        content = digest_render.digest_html(body)
    else:
        content = body
    return Response(content, media_type=MEDIA_TYPES[chosen])
