"""The OpenAPI document and its interactive page (SPEC §7, §13, §15).

The document must be true (SPEC §15): what a route declares is what it answers and what it accepts. Litestar
derives most of it from the handlers' signatures; this module adds what a signature cannot say:

- request bodies that refuse unknown fields say ``additionalProperties: false`` (``ClosedStructSchemas``);
- a route answering more than one media type, or taking a body its signature does not name, or none at
  all, gets an ``Operation`` class from ``documented_operation``;
- a POST that answers 201, or 200 for an identical replay, declares both (``replay_answer``).

The page at ``/schema`` is Swagger UI, served from the service itself (``pv_service/static/swagger-ui``,
pinned): hospital networks are closed, so it may load nothing from elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.plugins import OpenAPISchemaPlugin
from litestar.static_files import create_static_files_router

from pv_service.auth import BEARER
from pv_service.handlers.options import answer_options

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"
SWAGGER_UI_VERSION = "5.35.0"  # pv_service/static/swagger-ui/README.md says where it comes from
SWAGGER_UI = f"{STATIC_PATH}/swagger-ui"

# What the text answers are: one string each (a CSV file, an HTML page).
TEXT = Schema(type=OpenAPIType.STRING)
# The registry import body: a file of any bytes, judged line by line (SPEC §12, §14).
NDJSON_FILE = Schema(
    type=OpenAPIType.STRING,
    format=OpenAPIFormat.BINARY,
    description="NDJSON: one registry record a line, `type` first; each line is judged alone",
)


def static_files_router() -> Router:
    """``/static/…``: the vendored assets, readable without a token (the page that loads them takes none)."""
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        name="static",
        opt={"exclude_from_auth": True},
        # GET and HEAD: OPTIONS must name both (see handlers/options.py).
        before_request=answer_options,
        # The files change only with the package; a day of caching spares the page's 2 MB on every visit.
        cache_control=CacheControlHeader(max_age=86_400),
    )


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="pv_service",
        version="1.0.0",
        description="Pharmacovigilance of France's medical-cannabis experimentation.",
        path="/schema",
        render_plugins=[
            SwaggerRenderPlugin(
                version=SWAGGER_UI_VERSION,
                js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
                css_url=f"{SWAGGER_UI}/swagger-ui.css",
                standalone_preset_js_url=f"{SWAGGER_UI}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_UI}/favicon-32x32.png'>",
            )
        ],
        # Every API controller declares the bearer token (SPEC §1); /health and /schema take none.
        components=Components(
            security_schemes={BEARER: SecurityScheme(type="http", scheme="bearer", description="pvt_… token")}
        ),
    )


class ClosedStructSchemas(OpenAPISchemaPlugin):
    """A msgspec Struct declared ``forbid_unknown_fields=True`` is an object with ``additionalProperties: false``.

    Litestar's own Struct plugin builds the schema; this one, placed before it, closes the object.
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return (
            not field_definition.is_union
            and field_definition.is_subclass_of(msgspec.Struct)
            and field_definition.type_.__struct_config__.forbid_unknown_fields
        )

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        struct_plugin = next(
            plugin
            for plugin in schema_creator.plugins
            if plugin is not self and schema_creator.plugin_supports_field(plugin, field_definition)
        )
        schema = struct_plugin.to_openapi_schema(field_definition=field_definition, schema_creator=schema_creator)
        schema.additional_properties = False
        return schema


def replay_answer(view: Any, what: str) -> dict[int, ResponseSpec]:
    """The 200 of a POST that answers 201 when it creates: an identical replay creates nothing (SPEC §13, §14)."""
    return {200: ResponseSpec(data_container=view, description=what, generate_examples=False)}


def documented_operation(
    *,
    also_answers: Mapping[str, Schema] | None = None,
    body: tuple[str, Schema] | None = None,
    body_optional: bool = False,
) -> type[Operation]:
    """An ``Operation`` class (a route's ``operation_class``) saying what the route's signature cannot:

    ``also_answers`` are media types its success answer may have besides JSON (e.g. ``text/csv``), ``body``
    a request body it reads itself (media type and schema), ``body_optional`` that it takes no body too.
    """
    extra_media_types = dict(also_answers or {})

    @dataclass
    class DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            if extra_media_types and self.responses:
                success = next(code for code in self.responses if code.startswith("2"))
                answer = self.responses[success]
                assert isinstance(answer, OpenAPIResponse)
                content = dict(answer.content or {})
                content.update({media: OpenAPIMediaType(schema=schema) for media, schema in extra_media_types.items()})
                answer.content = content
            if body is not None:
                media_type, schema = body
                self.request_body = RequestBody(content={media_type: OpenAPIMediaType(schema=schema)}, required=True)
            if body_optional and isinstance(self.request_body, RequestBody):
                self.request_body.required = False

    return DocumentedOperation
