"""Jobs and anomalies for PV staff (SPEC §6, §14)."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from pv_service.auth import BEARER, allow
from pv_service.di import Context, PageAsked
from pv_service.errors import problem_responses
from pv_service.handlers.bodies import strict_body
from pv_service.handlers.options import answer_options
from pv_service.jobs import service
from pv_service.jobs.schemas import AnomalyView, JobList, RunRequest, RunView
from pv_service.openapi import documented_operation, replay_answer
from pv_service.pagination import Page
from pv_service.rules.findings import AnomalyKind

STAFF = [allow("pv_staff")]


async def _job_known_first(request: Request[Any, Any, Any]) -> None:
    """404 for an unknown job before the body's shape is judged (SPEC §14 precedence)."""
    service.job_named(request.path_params["name"])


class JobsController(Controller):
    path = "/api/v1"
    security = ({BEARER: []},)
    tags = ("jobs",)
    # /jobs/{name}/runs is GET and POST: OPTIONS must name both (see handlers/options.py).
    before_request = answer_options

    # The guards are the routes' own, not the controller's: a controller's guards also guard the OPTIONS
    # answer Litestar adds, which comes unauthenticated, so they failed with a 500 there.
    @get("/jobs", guards=STAFF, responses=problem_responses(403), summary="Jobs, next and last runs")
    async def jobs(self, context: Context) -> JobList:
        return JobList(items=await service.list_jobs(context))

    @post(
        "/jobs/{name:str}/runs",
        guards=STAFF,
        before_request=strict_body(RunRequest | None, first=_job_known_first),
        responses={
            **replay_answer(RunView, "That period was already done: the existing run, nothing created (SPEC §13)"),
            **problem_responses(400, 403, 404, 409, 413, 422),
        },
        # No body at all runs the default period: the body is optional.
        operation_class=documented_operation(body_optional=True),
        summary="Run a job for a period (default: the last complete one); 200 when that period was already done",
    )
    async def run(
        self, name: FromPath[str], context: Context, data: JSONBody[RunRequest | None] = None
    ) -> Response[RunView]:
        body = data or RunRequest()
        view, created = await service.start_run(context, name, body.period, force=body.force, trigger="api")
        return Response(view, status_code=201 if created else 200)

    @get(
        "/jobs/{name:str}/runs",
        guards=STAFF,
        responses=problem_responses(400, 403, 404),
        summary="A job's runs, newest first",
    )
    async def runs(self, name: FromPath[str], context: Context, page: PageAsked) -> Page[RunView]:
        return await service.list_runs(context, name, page.cursor, page.limit)

    @get(
        "/anomalies", guards=STAFF, responses=problem_responses(400, 403), summary="Cross-check findings, newest first"
    )
    async def anomalies(
        self,
        page: PageAsked,
        context: Context,
        kind: FromQuery[list[AnomalyKind] | None] = None,
        patient: FromQuery[str | None] = None,
        since: FromQuery[date | None] = None,
    ) -> Page[AnomalyView]:
        return await service.list_anomalies(
            context, kinds=kind or (), patient=patient, since=since, cursor=page.cursor, limit=page.limit
        )
