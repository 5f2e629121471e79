"""The OpenAPI document tells integrators how to authenticate (SPEC §15)."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from pv_service.auth import BEARER


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
