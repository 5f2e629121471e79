"""The reference data of ``schemas/`` served read-only as shipped, and the reporting-aid form as data for
clients that render it (SPEC §3)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec
from litestar.params import PathParameter

from pv_service.auth import BEARER
from pv_service.di import Context
from pv_service.errors import NotFound, problem_responses
from pv_service.reference import REFERENCE_DOCUMENTS

# The documents are answered as the shipped bytes; the document says what they are: JSON objects.
JSON_DOCUMENT = {200: ResponseSpec(data_container=dict[str, Any], description="The document", generate_examples=False)}
# Another name is a 404, which the service answers itself (so the enum documents, and does not validate).
DocumentName = Annotated[str, PathParameter(schema_extra={"enum": list(REFERENCE_DOCUMENTS)})]


class ReferenceController(Controller):
    path = "/api/v1"
    security = ({BEARER: []},)

    @get(
        "/reference/{name:str}",
        tags=["reference"],
        responses={**JSON_DOCUMENT, **problem_responses(400, 404)},
        summary="products, indications, reactions or titration-protocol",
    )
    async def reference_document(self, name: DocumentName, context: Context) -> Response[bytes]:
        if name not in REFERENCE_DOCUMENTS:
            raise NotFound("reference document")
        return Response(context.reference.documents[name], media_type="application/json")

    @get(
        "/forms/adverse-event",
        tags=["reports"],
        responses={**JSON_DOCUMENT, **problem_responses()},
        summary="The reporting-aid form",
    )
    async def adverse_event_form(self, context: Context) -> Response[bytes]:
        return Response(context.reference.documents["form"], media_type="application/json")
