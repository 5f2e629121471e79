"""The reference data of ``schemas/reference``, served read-only as shipped."""

from __future__ import annotations

from litestar import Response, get
from litestar.params import FromPath

from pv_service.di import Context
from pv_service.errors import not_found, problem_responses
from pv_service.reference import REFERENCE_DOCUMENTS


@get(
    "/api/v1/reference/{name:str}",
    tags=["reference"],
    responses=problem_responses(404),
    summary="products, indications, reactions or titration-protocol",
)
async def reference_document(name: FromPath[str], context: Context) -> Response[bytes]:
    if name not in REFERENCE_DOCUMENTS:
        raise not_found("reference document")
    return Response(context.reference.documents[name], media_type="application/json")
