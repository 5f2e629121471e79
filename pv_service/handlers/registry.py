"""Registry API (SPEC §2, §14): patients within reach, and what prescribers and pharmacists record."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from pv_service.auth import BEARER, allow
from pv_service.cases.service import ensure_patient_within_reach
from pv_service.context import ServiceContext
from pv_service.di import Context, CurrentCaller, PageAsked
from pv_service.errors import problem_responses
from pv_service.handlers.bodies import strict_body
from pv_service.openapi import NDJSON_FILE, documented_operation, replay_answer
from pv_service.pagination import Page
from pv_service.registry import kinds, service
from pv_service.registry.kinds import RecordKind
from pv_service.registry.schemas import (
    DispensationBody,
    DispensationView,
    ImportReport,
    PatientDetail,
    PatientView,
)
from pv_service.users.schemas import Caller

PATIENT = "/patients/{registry_id:str}"
WRITE_PROBLEMS = problem_responses(400, 403, 404, 409, 413, 422)
REPLAYED = "An identical record was already there: nothing was written (SPEC §14)"


def _created_or_replayed(answer: tuple[Any, bool]) -> Response[Any]:
    view, created = answer
    return Response(view, status_code=201 if created else 200)


async def _patient_within_reach_first(request: Request[Any, Any, Any]) -> None:
    """404 for a patient outside reach before the body's shape is judged (SPEC §14 precedence)."""
    await ensure_patient_within_reach(request.app.state.context, request.user, request.path_params["registry_id"])


def _recorded_about_a_patient(kind: RecordKind[Any], path: str, summary: str) -> HTTPRouteHandler:
    """``POST /patients/{registry_id}<path>``: a prescriber records a ``kind`` record about a patient within
    their reach. The four such routes differ only by their kind, so this one function makes each of them,
    named ``add_<kind>`` (the OpenAPI operation id), with the kind's body and view as its types."""
    api = kind.api
    assert api is not None

    async def handler(
        self: Controller, registry_id: str, data: msgspec.Struct, context: ServiceContext, caller: Caller
    ) -> Response[Any]:
        return _created_or_replayed(await service.add_record(context, caller, kind, data, registry_id=registry_id))

    handler.__name__ = handler.__qualname__ = f"add_{kind.tag}"
    handler.__annotations__ = {
        "registry_id": FromPath[str],
        "data": JSONBody[api.body],
        "context": Context,
        "caller": CurrentCaller,
        "return": Response[api.view],
    }
    return post(
        PATIENT + path,
        guards=[allow("prescriber")],
        before_request=strict_body(api.body, first=_patient_within_reach_first),
        responses={**replay_answer(api.view, REPLAYED), **WRITE_PROBLEMS},
        status_code=201,
        summary=summary,
    )(handler)


class RegistryController(Controller):
    """Reads answer within the caller's reach; each write is guarded by the one role that records it."""

    path = "/api/v1"
    security = ({BEARER: []},)
    tags = ("registry",)

    @get("/patients", responses=problem_responses(400), summary="Patients within the caller's reach")
    async def list_patients(
        self,
        context: Context,
        caller: CurrentCaller,
        page: PageAsked,
    ) -> Page[PatientView]:
        return await service.list_patients(context, caller, page.cursor, page.limit)

    @get(
        PATIENT,
        responses=problem_responses(400, 404),
        summary="A patient with prescriptions, dispensations, titration and consultations",
    )
    async def get_patient(self, registry_id: FromPath[str], context: Context, caller: CurrentCaller) -> PatientDetail:
        return await service.get_patient(context, caller, registry_id)

    add_prescription = _recorded_about_a_patient(
        kinds.PRESCRIPTIONS, "/prescriptions", "Record a prescription (secure above 0.3 % THC, at most 28 days)"
    )
    add_titration_step = _recorded_about_a_patient(
        kinds.TITRATION_STEPS, "/titration-steps", "Record a titration step (daily THC and CBD doses from a date)"
    )
    add_consultation = _recorded_about_a_patient(
        kinds.CONSULTATIONS, "/consultations", "Record a consultation (complex at M1…M30, or simple)"
    )
    add_withdrawal = _recorded_about_a_patient(
        kinds.WITHDRAWALS, "/withdrawal", "Record the patient's withdrawal; only weaning records follow it"
    )

    @post(
        "/dispensations",
        guards=[allow("pharmacist")],
        before_request=strict_body(DispensationBody),
        responses={**replay_answer(DispensationView, REPLAYED), **WRITE_PROBLEMS},
        status_code=201,
        summary="Record a dispensation inside its prescription's period",
    )
    async def add_dispensation(
        self, data: JSONBody[DispensationBody], context: Context, caller: CurrentCaller
    ) -> Response[DispensationView]:
        return _created_or_replayed(await service.add_record(context, caller, kinds.DISPENSATIONS, data))

    @post(
        "/registry/imports",
        guards=[allow("admin")],
        status_code=200,
        request_max_body_size=None,
        responses=problem_responses(403, 409, 413),
        # The handler reads the body itself, as a stream: its signature names none. An empty body imports nothing.
        operation_class=documented_operation(body=("application/x-ndjson", NDJSON_FILE), body_optional=True),
        summary="Bulk import of registry NDJSON; answers the per-line report",
    )
    async def import_registry(
        self, request: Request[Any, Any, Any], context: Context, caller: CurrentCaller
    ) -> ImportReport:
        return await service.import_ndjson(
            context, request.stream(), actor=caller.rpps, max_bytes=context.settings.import_max_bytes
        )
