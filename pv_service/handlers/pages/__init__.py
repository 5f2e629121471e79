"""The pages for people (SPEC §10, §15): one controller per area, on the services the API uses."""

from __future__ import annotations

from litestar import Router

from pv_service.config import Settings
from pv_service.handlers.pages.admin import AdminPages
from pv_service.handlers.pages.anomalies import AnomalyPages
from pv_service.handlers.pages.digests import DigestPages
from pv_service.handlers.pages.reports import ReportPages
from pv_service.handlers.pages.sign_in import SignInController
from pv_service.handlers.pages.triage import TriagePages
from pv_service.handlers.pages.web import PAGE_EXCEPTION_HANDLERS

PAGE_CONTROLLERS: list[type] = [SignInController, TriagePages, DigestPages, AnomalyPages, ReportPages]
# Room for the upload form's own parts (CSRF token, operation, part headers) around the import file.
FORM_OVERHEAD_BYTES = 64 * 1024


def pages_router(settings: Settings) -> Router:
    """Every page, with errors answered as pages instead of problem details."""
    # The admin's form carries an import file: its body is bounded as the import is, before anything reads
    # it (the CSRF check parses the form first).
    admin = Router(
        path="/",
        route_handlers=[AdminPages],
        request_max_body_size=settings.import_max_bytes + FORM_OVERHEAD_BYTES,
    )
    return Router(
        path="/",
        route_handlers=[*PAGE_CONTROLLERS, admin],
        exception_handlers=PAGE_EXCEPTION_HANDLERS,
        include_in_schema=False,
        # Signed in by a session cookie (``web.signed_in``), never by a bearer token.
        opt={"exclude_from_auth": True},
    )
