from __future__ import annotations

from dataclasses import replace

from litestar.testing import AsyncTestClient

from pv_service.app import create_app
from pv_service.config import Settings


async def test_health_reports_database_ok_and_scheduler_disabled(client: AsyncTestClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "scheduler": "disabled"}


async def test_health_reports_running_scheduler_when_enabled(settings: Settings) -> None:
    async with AsyncTestClient(app=create_app(replace(settings, scheduler_enabled=True))) as client:
        response = await client.get("/health")
    assert response.json()["scheduler"] == "running"


async def test_health_answers_503_when_the_database_is_unreachable(settings: Settings, tmp_path) -> None:
    broken = replace(
        settings,
        database_url=f"sqlite+aiosqlite:///{tmp_path}",
        migrate_on_start=False,
    )
    async with AsyncTestClient(app=create_app(broken)) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "error"


async def test_openapi_document_is_served(client: AsyncTestClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/patients/{registry_id}/prescriptions" in paths
    assert "/api/v1/registry/imports" in paths
