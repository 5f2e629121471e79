"""Adverse-event reports (SPEC §3, §12, §14): intake, follow-ups, the case, its versions, own reports.

Refusals come in SPEC §14's order: 401, 403 (guards), then 404 for a patient or case outside reach and
412 for a stale If-Match — checked before the body is decoded, so they win over a 400 — then 400, 422.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from pv_service.auth import BEARER, allow
from pv_service.cases import service
from pv_service.cases.schemas import CaseAnswer, CaseDetail, CaseListItem, CaseSummary, VersionDetail, VersionRef
from pv_service.di import Context, CurrentCaller, PageAsked
from pv_service.errors import problem_responses
from pv_service.handlers.bodies import strict_body
from pv_service.handlers.options import answer_options
from pv_service.pagination import Page
from pv_service.rules.report_body import ReportBody

REPORTERS = ("prescriber", "pharmacist")
CASE_READERS = ("prescriber", "pharmacist", "pv_staff")
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=200)]
IfMatch = Annotated[str | None, HeaderParameter(name="If-Match")]


def _case_answer(answer: CaseAnswer, status: int) -> Response[bytes]:
    return Response(answer.body, status_code=status, media_type="application/json", headers={"ETag": answer.etag})


def _registry_id_in(raw: bytes) -> str | None:
    """The patient a body names, read leniently: a malformed body is left to the shape check."""
    try:
        document = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    patient = document.get("patient") if isinstance(document, dict) else None
    registry_id = patient.get("registry_id") if isinstance(patient, dict) else None
    return registry_id if isinstance(registry_id, str) and registry_id else None


REACHED_PATIENT = "reached_patient"


async def patient_within_reach_first(request: Request[Any, Any, Any]) -> None:
    """404 for a patient outside reach before the body's shape is judged (SPEC §14 precedence); the patient
    found is kept in the request's state for the intake."""
    registry_id = _registry_id_in(await request.body())
    if registry_id is not None:
        patient = await service.ensure_patient_within_reach(request.app.state.context, request.user, registry_id)
        request.state[REACHED_PATIENT] = patient


def case_and_precondition_first(*, if_match_required: bool) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """404 for a case outside reach, then 428 / 412 for a missing or stale If-Match, before the body is
    decoded."""

    async def check(request: Request[Any, Any, Any]) -> None:
        await service.ensure_case_precondition(
            request.app.state.context,
            request.user,
            request.path_params["case_id"],
            request.headers.get("if-match"),
            required=if_match_required,
        )

    return check


class CasesController(Controller):
    path = "/api/v1/reports"
    security = ({BEARER: []},)
    tags = ("reports",)
    # /api/v1/reports is GET and POST: OPTIONS must name both (see handlers/options.py).
    before_request = answer_options

    @post(
        "/",
        guards=[allow(*REPORTERS)],
        before_request=strict_body(ReportBody, first=patient_within_reach_first),
        status_code=201,
        responses=problem_responses(400, 403, 404, 413, 422),
        summary="Report an adverse event (or a special situation) on a patient within reach",
    )
    async def submit_report(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ReportBody],
        context: Context,
        caller: CurrentCaller,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[CaseSummary]:
        # A replay answers as the first time did.
        reached = request.state.get(REACHED_PATIENT)
        return _case_answer(await service.submit_report(context, caller, data, idempotency_key, reached), 201)

    @post(
        "/{case_id:int}/follow-ups",
        guards=[allow(*CASE_READERS)],
        before_request=strict_body(ReportBody, first=case_and_precondition_first(if_match_required=False)),
        status_code=201,
        responses=problem_responses(400, 403, 404, 409, 412, 413, 422),
        summary="Send follow-up information: the whole report as now known, kept as a new version",
    )
    async def follow_up(
        self,
        case_id: FromPath[int],
        data: JSONBody[ReportBody],
        context: Context,
        caller: CurrentCaller,
        if_match: IfMatch = None,
    ) -> Response[CaseSummary]:
        return _case_answer(await service.follow_up(context, caller, case_id, data, if_match), 201)

    @get(
        "/{case_id:int}",
        guards=[allow(*CASE_READERS)],
        responses=problem_responses(400, 403, 404),
        summary="A case: the report as last known, its assessment, versions and findings",
    )
    async def get_case(self, case_id: FromPath[int], context: Context, caller: CurrentCaller) -> Response[CaseDetail]:
        detail, etag = await service.get_case(context, caller, case_id)
        return Response(detail, headers={"ETag": etag})

    @get(
        "/{case_id:int}/versions",
        guards=[allow(*CASE_READERS)],
        responses=problem_responses(400, 403, 404),
        summary="The versions of a case",
    )
    async def list_versions(
        self,
        page: PageAsked,
        case_id: FromPath[int],
        context: Context,
        caller: CurrentCaller,
    ) -> Page[VersionRef]:
        return await service.list_versions(context, caller, case_id, page.cursor, page.limit)

    @get(
        "/{case_id:int}/versions/{version:int}",
        guards=[allow(*CASE_READERS)],
        responses=problem_responses(400, 403, 404),
        summary="One version of a case, whole",
    )
    async def get_version(
        self, case_id: FromPath[int], version: FromPath[int], context: Context, caller: CurrentCaller
    ) -> VersionDetail:
        return await service.get_version(context, caller, case_id, version)

    @get(
        "/",
        guards=[allow(*CASE_READERS)],
        responses=problem_responses(400, 403),
        summary="Your own reports (PV staff: every case), newest first",
    )
    async def list_reports(
        self,
        page: PageAsked,
        context: Context,
        caller: CurrentCaller,
        patient: FromQuery[str | None] = None,
    ) -> Page[CaseListItem]:
        return await service.list_cases(context, caller, patient, page.cursor, page.limit)
