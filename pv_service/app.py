"""``create_app()``: the one place that wires settings, storage, auth, handlers, errors and the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.plugins import CLIPluginProtocol, InitPluginProtocol

from pv_service.auth import UNAUTHENTICATED_PATHS, BearerTokenMiddleware
from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.di import DEPENDENCIES
from pv_service.errors import problem_details_plugin
from pv_service.handlers import forms, health, jobs, reference, registry, reports, triage
from pv_service.jobs.scheduling import start_scheduler
from pv_service.reference import load_reference
from pv_service.storage.database import Database
from pv_service.storage.migrate import upgrade

ROUTE_HANDLERS = [
    health.health,
    reference.reference_document,
    registry.list_patients,
    registry.get_patient,
    registry.add_prescription,
    registry.add_titration_step,
    registry.add_consultation,
    registry.add_withdrawal,
    registry.add_dispensation,
    registry.import_registry,
    forms.adverse_event_form,
    reports.submit_report,
    reports.follow_up,
    reports.get_case,
    reports.list_versions,
    reports.get_version,
    reports.list_reports,
    triage.triage_queue,
    triage.case_action,
    triage.audit_trail,
    jobs.jobs,
    jobs.run,
    jobs.runs,
    jobs.anomalies,
    jobs.digests,
    jobs.digest,
]


class PvServicePlugin(InitPluginProtocol, CLIPluginProtocol):
    """Registers the ``pv-service`` commands on the Litestar CLI."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        return app_config

    def on_cli_init(self, cli: object) -> None:
        from pv_service.cli import register_commands

        register_commands(cli)  # type: ignore[arg-type]


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    context = ServiceContext(
        settings=settings, database=Database(settings.database_url), reference=load_reference(settings.schemas_dir)
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await upgrade(context.database)
        scheduler = start_scheduler(context) if settings.scheduler_enabled else None
        if scheduler is not None:
            app.state.scheduler_state = "running"
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
            app.state.scheduler_state = "stopped" if settings.scheduler_enabled else "disabled"
            await context.database.dispose()

    return Litestar(
        route_handlers=ROUTE_HANDLERS,
        dependencies=DEPENDENCIES,
        middleware=[DefineMiddleware(BearerTokenMiddleware, exclude=UNAUTHENTICATED_PATHS)],
        plugins=[problem_details_plugin(), PvServicePlugin()],
        lifespan=[lifespan],
        state=State({"context": context, "scheduler_state": "disabled"}),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="pv_service",
            version="1.0.0",
            description="Pharmacovigilance of France's medical-cannabis experimentation.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        debug=False,
    )
