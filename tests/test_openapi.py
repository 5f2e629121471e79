"""The OpenAPI document is true (SPEC §15) and its interactive page works offline (issue 9, items 17-18)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from litestar.testing import AsyncTestClient

import pv_service
from pv_service.auth import BEARER
from pv_service.openapi import SWAGGER_UI_VERSION


async def test_every_api_operation_declares_the_bearer_token_and_health_none(client: AsyncTestClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert document["components"]["securitySchemes"][BEARER] == {
        "type": "http",
        "scheme": "bearer",
        "description": "pvt_… token",
    }
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    api = [(path, method) for path, method, operation in operations if path.startswith("/api/")]
    assert len(api) >= 20
    assert all(
        operation.get("security") == [{BEARER: []}] for path, _, operation in operations if path.startswith("/api/")
    )
    assert "security" not in document["paths"]["/health"]["get"]


# --- the interactive page works offline (issue 9, item 17) ---------------------------------------------------

ASSET_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
ASSET_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".png": ("image/png",)}


async def test_the_schema_page_loads_only_assets_the_service_serves_itself(client: AsyncTestClient) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = ASSET_REFERENCE.findall(page.text)
    assert {Path(url).suffix for url in assets} >= {".js", ".css"}
    for url in assets:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/static/"), url
        # No token: the page itself takes none, and neither do its assets.
        answer = await client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["content-type"].split(";")[0] in ASSET_TYPES[Path(url).suffix], url
        assert answer.content
        if url.endswith(".css"):
            # The stylesheet fetches nothing either: its images are inline.
            assert all(ref.startswith(("data:", '"data:')) for ref in re.findall(r"url\(([^)]*)\)", answer.text))


def test_the_vendored_assets_carry_their_licence_and_pinned_version() -> None:
    folder = Path(pv_service.__file__).parent / "static" / "swagger-ui"
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert f"Swagger UI {SWAGGER_UI_VERSION}" in (folder / "README.md").read_text()
    assert f"swagger-ui-dist@{SWAGGER_UI_VERSION}" in (folder / "README.md").read_text()
