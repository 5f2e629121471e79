"""Triage for PV staff (SPEC §5, §13, §14): the queue, its line listing, actions on a case, the audit trail."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Response, get, post
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import Stream

from pv_service.auth import allow
from pv_service.di import Context, CurrentCaller
from pv_service.errors import problem_responses
from pv_service.handlers.reports import CASE_READERS, case_and_precondition_first
from pv_service.pagination import DEFAULT_LIMIT, Limit, Page
from pv_service.reports.views import CaseDetail
from pv_service.triage import queue
from pv_service.triage.actions import TriageAction
from pv_service.triage.service import AuditItem, apply_action, case_audit

State = Literal["received", "in_triage", "assessed", "awaiting_follow_up", "duplicate", "closed", "nullified"]
Priority = Literal["P1", "P2", "P3", "P4", "P5"]
IfMatch = Annotated[str | None, HeaderParameter(name="If-Match")]


@get(
    "/api/v1/queue",
    tags=["triage"],
    guards=[allow("pv_staff")],
    responses=problem_responses(400, 403),
    summary="The triage queue: by priority, then triage due date (format=csv for the line listing)",
)
async def triage_queue(
    context: Context,
    states: Annotated[list[State] | None, QueryParameter(name="state")] = None,
    priority: FromQuery[list[Priority] | None] = None,
    serious: FromQuery[bool | None] = None,
    assignee: FromQuery[str | None] = None,
    product: FromQuery[list[str] | None] = None,
    reaction: FromQuery[list[str] | None] = None,
    overdue: FromQuery[bool | None] = None,
    counts: FromQuery[bool] = False,
    format: FromQuery[Literal["json", "csv"]] = "json",
    cursor: FromQuery[str | None] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response[Any]:
    filters = queue.QueueFilters(
        states=states or (),
        priorities=priority or (),
        serious=serious,
        assignee=assignee,
        products=product or (),
        reactions=reaction or (),
        overdue=overdue,
    )
    if format == "csv":
        return Stream(
            queue.line_listing(context, filters),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="line-listing.csv"'},
        )
    return Response(await queue.queue_page(context, filters, cursor, limit, counts))


@post(
    "/api/v1/reports/{case_id:int}/actions",
    tags=["triage"],
    guards=[allow("pv_staff")],
    before_request=case_and_precondition_first(if_match_required=True),
    status_code=200,
    responses=problem_responses(400, 403, 404, 409, 412, 413, 422, 428),
    summary="A triage action on a case (assign, start, code, set_seriousness, assess, …); If-Match required",
)
async def case_action(
    case_id: FromPath[int],
    data: JSONBody[TriageAction],
    context: Context,
    caller: CurrentCaller,
    if_match: IfMatch = None,
) -> Response[CaseDetail]:
    detail, etag = await apply_action(context, caller, case_id, data, if_match)
    return Response(detail, headers={"ETag": etag})


@get(
    "/api/v1/reports/{case_id:int}/audit",
    tags=["triage"],
    guards=[allow(*CASE_READERS)],
    responses=problem_responses(400, 403, 404),
    summary="The case's audit trail: who, when, what, before and after",
)
async def audit_trail(
    case_id: FromPath[int],
    context: Context,
    caller: CurrentCaller,
    cursor: FromQuery[str | None] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AuditItem]:
    return await case_audit(context, caller, case_id, cursor, limit)
