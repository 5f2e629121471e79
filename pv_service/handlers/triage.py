"""Triage for PV staff (SPEC §5, §13, §14): the queue, its line listing, actions on a case, the audit trail."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import Stream

from pv_service.auth import BEARER, allow
from pv_service.cases.schemas import CaseDetail
from pv_service.di import Context, CurrentCaller, PageAsked
from pv_service.errors import problem_responses
from pv_service.handlers.bodies import strict_body
from pv_service.handlers.cases import CASE_READERS, case_and_precondition_first
from pv_service.openapi import TEXT, documented_operation
from pv_service.pagination import Page
from pv_service.rules.priority import Priority
from pv_service.rules.workflow import CaseState
from pv_service.triage import service
from pv_service.triage.schemas import AuditItem, QueueFilters, QueuePage, TriageAction

IfMatch = Annotated[str | None, HeaderParameter(name="If-Match")]
STAFF = [allow("pv_staff")]
QUEUE_ANSWER = {
    200: ResponseSpec(
        data_container=QueuePage,
        description="A page of the queue; with format=csv, the whole line listing as text/csv",
        generate_examples=False,
    )
}


class TriageController(Controller):
    path = "/api/v1"
    security = ({BEARER: []},)
    tags = ("triage",)

    @get(
        "/queue",
        guards=STAFF,
        responses={**QUEUE_ANSWER, **problem_responses(400, 403)},
        operation_class=documented_operation(also_answers={"text/csv": TEXT}),
        summary="The triage queue: by priority, then triage due date (format=csv for the line listing)",
    )
    async def triage_queue(
        self,
        page: PageAsked,
        context: Context,
        states: Annotated[list[CaseState] | None, QueryParameter(name="state")] = None,
        priority: FromQuery[list[Priority] | None] = None,
        serious: FromQuery[bool | None] = None,
        assignee: FromQuery[str | None] = None,
        product: FromQuery[list[str] | None] = None,
        reaction: FromQuery[list[str] | None] = None,
        overdue: FromQuery[bool | None] = None,
        counts: FromQuery[bool] = False,
        format: FromQuery[Literal["json", "csv"]] = "json",
    ) -> Response[Any]:
        filters = QueueFilters(
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
                service.line_listing(context, filters),
                media_type="text/csv",
                headers={"Content-Disposition": 'attachment; filename="line-listing.csv"'},
            )
        queue: QueuePage = await service.queue_page(context, filters, page.cursor, page.limit, counts)
        return Response(queue)

    @post(
        "/reports/{case_id:int}/actions",
        guards=STAFF,
        before_request=strict_body(TriageAction, first=case_and_precondition_first(if_match_required=True)),
        status_code=200,
        responses=problem_responses(400, 403, 404, 409, 412, 413, 422, 428),
        summary="A triage action on a case (assign, start, code, set_seriousness, assess, …); If-Match required",
    )
    async def case_action(
        self,
        case_id: FromPath[int],
        data: JSONBody[TriageAction],
        context: Context,
        caller: CurrentCaller,
        if_match: IfMatch = None,
    ) -> Response[CaseDetail]:
        detail, etag = await service.apply_action(context, caller, case_id, data, if_match)
        return Response(detail, headers={"ETag": etag})

    @get(
        "/reports/{case_id:int}/audit",
        guards=[allow(*CASE_READERS)],
        responses=problem_responses(400, 403, 404),
        summary="The case's audit trail: who, when, what, before and after",
    )
    async def audit_trail(
        self,
        page: PageAsked,
        case_id: FromPath[int],
        context: Context,
        caller: CurrentCaller,
    ) -> Page[AuditItem]:
        return await service.case_audit(context, caller, case_id, page.cursor, page.limit)
