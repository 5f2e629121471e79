"""Registry API (SPEC §2, §14): patients within reach, and what prescribers and pharmacists record."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from pv_service.auth import allow
from pv_service.di import Context, CurrentCaller
from pv_service.errors import problem_responses
from pv_service.pagination import DEFAULT_LIMIT, Limit, Page
from pv_service.registry import service
from pv_service.registry.importer import ImportReport
from pv_service.registry.records import (
    ConsultationBody,
    DispensationBody,
    PrescriptionBody,
    TitrationStepBody,
    WithdrawalBody,
)
from pv_service.registry.views import (
    ConsultationView,
    DispensationView,
    PatientDetail,
    PatientView,
    PrescriptionView,
    TitrationStepView,
    WithdrawalView,
)

PATIENT = "/api/v1/patients/{registry_id:str}"
WRITE_PROBLEMS = problem_responses(400, 403, 404, 409, 413, 422)


def _created_or_replayed(view: Any, created: bool) -> Response[Any]:
    return Response(view, status_code=201 if created else 200)


@get(
    "/api/v1/patients",
    tags=["registry"],
    responses=problem_responses(400),
    summary="Patients within the caller's reach",
)
async def list_patients(
    context: Context,
    caller: CurrentCaller,
    cursor: FromQuery[str | None] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PatientView]:
    return await service.list_patients(context, caller, cursor, limit)


@get(
    PATIENT,
    tags=["registry"],
    responses=problem_responses(404),
    summary="A patient with prescriptions, dispensations, titration and consultations",
)
async def get_patient(registry_id: FromPath[str], context: Context, caller: CurrentCaller) -> PatientDetail:
    return await service.get_patient(context, caller, registry_id)


@post(
    PATIENT + "/prescriptions",
    tags=["registry"],
    guards=[allow("prescriber")],
    responses=WRITE_PROBLEMS,
    status_code=201,
    summary="Record a prescription (secure above 0.3 % THC, at most 28 days)",
)
async def add_prescription(
    registry_id: FromPath[str], data: JSONBody[PrescriptionBody], context: Context, caller: CurrentCaller
) -> Response[PrescriptionView]:
    return _created_or_replayed(*await service.add_prescription(context, caller, registry_id, data))


@post(
    PATIENT + "/titration-steps",
    tags=["registry"],
    guards=[allow("prescriber")],
    responses=WRITE_PROBLEMS,
    status_code=201,
    summary="Record a titration step (daily THC and CBD doses from a date)",
)
async def add_titration_step(
    registry_id: FromPath[str], data: JSONBody[TitrationStepBody], context: Context, caller: CurrentCaller
) -> Response[TitrationStepView]:
    return _created_or_replayed(*await service.add_titration_step(context, caller, registry_id, data))


@post(
    PATIENT + "/consultations",
    tags=["registry"],
    guards=[allow("prescriber")],
    responses=WRITE_PROBLEMS,
    status_code=201,
    summary="Record a consultation (complex at M1…M30, or simple)",
)
async def add_consultation(
    registry_id: FromPath[str], data: JSONBody[ConsultationBody], context: Context, caller: CurrentCaller
) -> Response[ConsultationView]:
    return _created_or_replayed(*await service.add_consultation(context, caller, registry_id, data))


@post(
    PATIENT + "/withdrawal",
    tags=["registry"],
    guards=[allow("prescriber")],
    responses=WRITE_PROBLEMS,
    status_code=201,
    summary="Record the patient's withdrawal; only weaning records follow it",
)
async def add_withdrawal(
    registry_id: FromPath[str], data: JSONBody[WithdrawalBody], context: Context, caller: CurrentCaller
) -> Response[WithdrawalView]:
    return _created_or_replayed(*await service.add_withdrawal(context, caller, registry_id, data))


@post(
    "/api/v1/dispensations",
    tags=["registry"],
    guards=[allow("pharmacist")],
    responses=WRITE_PROBLEMS,
    status_code=201,
    summary="Record a dispensation inside its prescription's period",
)
async def add_dispensation(
    data: JSONBody[DispensationBody], context: Context, caller: CurrentCaller
) -> Response[DispensationView]:
    return _created_or_replayed(*await service.add_dispensation(context, caller, data))


@post(
    "/api/v1/registry/imports",
    tags=["registry"],
    guards=[allow("admin")],
    status_code=200,
    request_max_body_size=None,
    responses=problem_responses(403, 413),
    summary="Bulk import of registry NDJSON; answers the per-line report",
)
async def import_registry(request: Request[Any, Any, Any], context: Context, caller: CurrentCaller) -> ImportReport:
    return await service.import_stream(context, caller, request.stream(), context.settings.import_max_bytes)
