"""The OpenAPI document and its interactive page (SPEC §7, §13, §15).

The page at ``/schema`` is Swagger UI, served from the service itself (``pv_service/static/swagger-ui``,
pinned): hospital networks are closed, so it may load nothing from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from pv_service.auth import BEARER

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"
SWAGGER_UI_VERSION = "5.35.0"  # pv_service/static/swagger-ui/README.md says where it comes from
SWAGGER_UI = f"{STATIC_PATH}/swagger-ui"


def static_files_router() -> Router:
    """``/static/…``: the vendored assets, readable without a token (the page that loads them takes none)."""
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        name="static",
        opt={"exclude_from_auth": True},
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
