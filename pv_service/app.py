"""``create_app()``: the service as a Litestar application, wired in one place — ``PvServicePlugin``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.plugins import InitPluginProtocol

from pv_service.auth import UNAUTHENTICATED_PATHS, BearerTokenMiddleware
from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.di import current_caller, service_context
from pv_service.errors import problem_details_plugin
from pv_service.handlers.cases import CasesController
from pv_service.handlers.digests import DigestsController
from pv_service.handlers.health import health
from pv_service.handlers.jobs import JobsController
from pv_service.handlers.pages import pages_router
from pv_service.handlers.pages.web import (
    SecureCookiesOverTls,
    csrf_config,
    page_secret,
    session_config,
    template_config,
)
from pv_service.handlers.reference import ReferenceController
from pv_service.handlers.registry import RegistryController
from pv_service.handlers.triage import TriageController
from pv_service.handlers.users import UsersController
from pv_service.jobs.scheduling import start_scheduler
from pv_service.openapi import ClosedStructSchemas, openapi_config, static_files_router
from pv_service.pagination import page_request

CONTROLLERS = (
    ReferenceController,
    RegistryController,
    CasesController,
    TriageController,
    JobsController,
    DigestsController,
    UsersController,
)


class PvServicePlugin(InitPluginProtocol):
    """Controllers, dependencies, authentication, problem details, OpenAPI and the lifespan of one instance."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        settings = self.context.settings
        await self.context.start()
        scheduler = start_scheduler(self.context) if settings.scheduler_enabled else None
        if scheduler is not None:
            app.state.scheduler_state = "running"
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
            app.state.scheduler_state = "stopped" if settings.scheduler_enabled else "disabled"
            await self.context.close()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(
            [health, *CONTROLLERS, static_files_router(), pages_router(self.context.settings)]
        )
        app_config.dependencies.update(
            {
                "context": Provide(service_context, sync_to_thread=False),
                "caller": Provide(current_caller, sync_to_thread=False),
                "page": Provide(page_request, sync_to_thread=False),
            }
        )
        app_config.middleware.append(DefineMiddleware(BearerTokenMiddleware, exclude=UNAUTHENTICATED_PATHS))
        # Pages: a signed session cookie and CSRF-checked forms; the API keeps bearer tokens and takes no cookie.
        secret = page_secret(self.context.settings)
        app_config.middleware[:0] = [SecureCookiesOverTls, session_config(secret).middleware]
        app_config.csrf_config = csrf_config(secret)
        app_config.template_config = template_config()
        app_config.plugins.append(problem_details_plugin())
        app_config.lifespan.append(self.lifespan)
        app_config.state = State({"context": self.context, "scheduler_state": "disabled"})
        app_config.openapi_config = openapi_config()
        app_config.debug = False
        return app_config


def create_app(settings: Settings | None = None) -> Litestar:
    context = ServiceContext.from_settings(settings or Settings.from_env())
    # Litestar 2.25 takes the body limit from its own argument, not from the config a plugin returns.
    # A schema plugin is consulted in order, and those an init plugin adds come after Litestar's own.
    return Litestar(
        plugins=[PvServicePlugin(context), ClosedStructSchemas()],
        request_max_body_size=context.settings.max_body_bytes,
    )
