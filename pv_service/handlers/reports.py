"""Adverse-event reports (SPEC §3, §12, §14): intake, follow-ups, the case, its versions, own reports.

Refusals come in SPEC §14's order: 401, 403 (guards), then 404 for a patient or case outside reach and
412 for a stale If-Match — checked before the body is decoded, so they win over a 400 — then 400, 422.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from pv_service.auth import allow
from pv_service.context import ServiceContext
from pv_service.di import Context, CurrentCaller
from pv_service.errors import not_found, problem_responses
from pv_service.pagination import DEFAULT_LIMIT, Limit, Page
from pv_service.reports import service
from pv_service.reports.body import ReportBody
from pv_service.reports.views import CaseDetail, CaseListItem, CaseSummary, VersionDetail, VersionRef
from pv_service.users import Caller

REPORTERS = ("prescriber", "pharmacist")
CASE_READERS = ("prescriber", "pharmacist", "pv_staff")
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=200)]
IfMatch = Annotated[str | None, HeaderParameter(name="If-Match")]


def _case_answer(answer: service.CaseAnswer, status: int) -> Response[bytes]:
    return Response(answer.body, status_code=status, media_type="application/json", headers={"ETag": answer.etag})


def _registry_id_in(raw: bytes) -> str | None:
    """The patient a body names, read leniently: a malformed body is left to the shape check."""
    try:
        document = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    patient = document.get("patient") if isinstance(document, dict) else None
    registry_id = patient.get("registry_id") if isinstance(patient, dict) else None
    return registry_id if isinstance(registry_id, str) and registry_id else None


async def patient_within_reach_first(request: Request[Any, Any, Any]) -> None:
    """404 for a patient outside reach before the body's shape is judged (SPEC §14 precedence)."""
    registry_id = _registry_id_in(await request.body())
    if registry_id is None:
        return
    context: ServiceContext = request.app.state.context
    caller: Caller = request.user
    async with context.database.read_session() as session:
        if await service.reachable_patient_by_registry_id(session, caller, registry_id) is None:
            raise not_found("patient")


def case_and_precondition_first(*, if_match_required: bool) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """A hook answering 404 for a case outside reach, then 428 / 412 for a missing or stale If-Match, before
    the body is decoded; the service checks again under the row lock."""

    async def check(request: Request[Any, Any, Any]) -> None:
        context: ServiceContext = request.app.state.context
        async with context.database.read_session() as session:
            case = await service.reachable_case(session, request.user, request.path_params["case_id"])
        service.check_if_match(case, request.headers.get("if-match"), required=if_match_required)

    return check


@post(
    "/api/v1/reports",
    tags=["reports"],
    guards=[allow(*REPORTERS)],
    before_request=patient_within_reach_first,
    status_code=201,
    responses=problem_responses(400, 403, 404, 413, 422),
    summary="Report an adverse event (or a special situation) on a patient within reach",
)
async def submit_report(
    data: JSONBody[ReportBody], context: Context, caller: CurrentCaller, idempotency_key: IdempotencyKey = None
) -> Response[CaseSummary]:
    # A replay answers as the first time did.
    return _case_answer(await service.submit_report(context, caller, data, idempotency_key), 201)


@post(
    "/api/v1/reports/{case_id:int}/follow-ups",
    tags=["reports"],
    guards=[allow(*CASE_READERS)],
    before_request=case_and_precondition_first(if_match_required=False),
    status_code=201,
    responses=problem_responses(400, 403, 404, 409, 412, 413, 422),
    summary="Send follow-up information: the whole report as now known, kept as a new version",
)
async def follow_up(
    case_id: FromPath[int],
    data: JSONBody[ReportBody],
    context: Context,
    caller: CurrentCaller,
    if_match: IfMatch = None,
) -> Response[CaseSummary]:
    return _case_answer(await service.follow_up(context, caller, case_id, data, if_match), 201)


@get(
    "/api/v1/reports/{case_id:int}",
    tags=["reports"],
    guards=[allow(*CASE_READERS)],
    responses=problem_responses(403, 404),
    summary="A case: the report as last known, its assessment, versions and findings",
)
async def get_case(case_id: FromPath[int], context: Context, caller: CurrentCaller) -> Response[CaseDetail]:
    detail, etag = await service.get_case(context, caller, case_id)
    return Response(detail, headers={"ETag": etag})


@get(
    "/api/v1/reports/{case_id:int}/versions",
    tags=["reports"],
    guards=[allow(*CASE_READERS)],
    responses=problem_responses(400, 403, 404),
    summary="The versions of a case",
)
async def list_versions(
    case_id: FromPath[int],
    context: Context,
    caller: CurrentCaller,
    cursor: FromQuery[str | None] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[VersionRef]:
    return await service.list_versions(context, caller, case_id, cursor, limit)


@get(
    "/api/v1/reports/{case_id:int}/versions/{version:int}",
    tags=["reports"],
    guards=[allow(*CASE_READERS)],
    responses=problem_responses(403, 404),
    summary="One version of a case, whole",
)
async def get_version(
    case_id: FromPath[int], version: FromPath[int], context: Context, caller: CurrentCaller
) -> VersionDetail:
    return await service.get_version(context, caller, case_id, version)


@get(
    "/api/v1/reports",
    tags=["reports"],
    guards=[allow(*CASE_READERS)],
    responses=problem_responses(400, 403),
    summary="Your own reports (PV staff: every case), newest first",
)
async def list_reports(
    context: Context,
    caller: CurrentCaller,
    patient: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[CaseListItem]:
    return await service.list_cases(context, caller, patient, cursor, limit)
