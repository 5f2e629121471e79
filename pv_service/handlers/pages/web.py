"""What every page shares: the template engine and its translations, who is signed in, the language chosen,
and errors shown as pages rather than problem details.

Pages sit on the same services as the API; this module holds no business rule, only the HTTP of pages.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context as TemplateContext
from litestar import Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Redirect, Template
from litestar.template import TemplateConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from pv_service.config import Settings
from pv_service.context import ServiceContext
from pv_service.errors import Problem
from pv_service.i18n import LANGUAGES, catalog, translate
from pv_service.rules.text import Text
from pv_service.users.schemas import Caller, Me, Role
from pv_service.users.service import session_user

logger = logging.getLogger("pv_service")

LANGUAGE_COOKIE = "pv_lang"
SESSION_COOKIE = "pv_session"
CSRF_COOKIE = "pv_csrf"
DEFAULT_LANGUAGE = "fr"
# SPEC §15: a page session ends after 8 hours without a request.
IDLE_SECONDS = 8 * 3600
# Paths that are not pages: the API keeps bearer tokens and takes no cookie.
NOT_PAGES = ["^/api", "^/health", "^/schema", "^/static"]
HOMES: dict[str, str] = {"prescriber": "/reports", "pharmacist": "/reports", "pv_staff": "/queue", "admin": "/admin"}


def page_secret(settings: Settings) -> str:
    """``PV_SECRET_KEY``; without one, a random secret: page sessions then last as long as this app."""
    if settings.secret_key:
        return settings.secret_key
    logger.warning("PV_SECRET_KEY is unset: page sessions end when this process stops")
    return secrets.token_urlsafe(32)


def _key(secret: str, purpose: str) -> bytes:
    """One key per use, derived from the one secret."""
    return hashlib.sha256(f"{purpose}:{secret}".encode()).digest()


def session_config(secret: str) -> CookieBackendConfig:
    return CookieBackendConfig(
        secret=_key(secret, "session"),
        key=SESSION_COOKIE,
        max_age=IDLE_SECONDS,
        httponly=True,
        samesite="lax",
        exclude=NOT_PAGES,
    )


def csrf_config(secret: str) -> CSRFConfig:
    return CSRFConfig(
        secret=_key(secret, "csrf").hex(),
        cookie_name=CSRF_COOKIE,
        cookie_httponly=True,
        cookie_samesite="lax",
        exclude=NOT_PAGES,
    )


@pass_context
def _gettext(context: TemplateContext, message: str) -> str:
    return catalog(context["lang"]).gettext(message)


@pass_context
def _ngettext(context: TemplateContext, singular: str, plural: str, count: int) -> str:
    return catalog(context["lang"]).ngettext(singular, plural, count)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    environment = Environment(
        loader=PackageLoader("pv_service", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


class SecureCookiesOverTls:
    """Marks every cookie ``Secure`` when the request came over TLS (SPEC §15), and only then."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (name, value + b"; Secure")
                    if name.lower() == b"set-cookie" and b"secure" not in value.lower()
                    else (name, value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_secure)


# --- who is looking, in which language ------------------------------------------------------------------


def language_of(request: Request[Any, Any, Any]) -> str:
    """``?lang=`` first, then the remembered choice, then French."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    return remembered if remembered in LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user of a page, and the language they read it in."""

    rpps: str
    name: str
    role: Role
    lang: str

    @property
    def caller(self) -> Caller:
        return Caller(rpps=self.rpps, role=self.role)

    @property
    def home(self) -> str:
        return HOMES[self.role]


# The ``viewer`` dependency a page controller provides with ``Provide(signed_in(role, ...))``.
SignedIn = NamedDependency[Viewer]


class SignInRequired(HTTPException):
    """No page session, or one that ended: the user is sent to the sign-in page."""

    status_code = 401


def open_session(request: Request[Any, Any, Any], token_id: str) -> None:
    request.set_session({"token": token_id, "seen": int(time.time())})


def close_session(request: Request[Any, Any, Any]) -> None:
    request.clear_session()


async def current_user(request: Request[Any, Any, Any]) -> Me | None:
    """The user of the request's page session, renewed; None when there is none or it ended."""
    data = request.session if "session" in request.scope else {}
    token_id, seen = data.get("token"), data.get("seen")
    if not isinstance(token_id, str) or not isinstance(seen, int) or time.time() - seen > IDLE_SECONDS:
        return None
    context: ServiceContext = request.app.state.context
    user = await session_user(context, token_id)
    if user is None:
        close_session(request)
        return None
    open_session(request, token_id)
    return user


def signed_in(*roles: Role) -> Callable[[Request[Any, Any, Any]], Coroutine[Any, Any, Viewer]]:
    """A ``viewer`` dependency: the signed-in user if their role may see these pages (else 403)."""

    async def viewer(request: Request[Any, Any, Any]) -> Viewer:
        user = await current_user(request)
        if user is None:
            raise SignInRequired()
        if user.role not in roles:
            raise HTTPException(status_code=403, detail="This page is not for your role.")
        return Viewer(rpps=user.rpps, name=user.name, role=user.role, lang=language_of(request))

    return viewer


# --- answers ----------------------------------------------------------------------------------------------


def page(
    request: Request[Any, Any, Any],
    name: str,
    viewer: Viewer | None = None,
    *,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """The page ``name`` (under templates/pages) in the request's language; a ``?lang=`` choice is kept."""
    lang = language_of(request)
    cookies = []
    if request.query_params.get("lang") in LANGUAGES:
        cookies.append(Cookie(key=LANGUAGE_COOKIE, value=lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax"))
    return Template(
        f"pages/{name}",
        context={"lang": lang, "viewer": viewer, "path": request.url.path, **context},
        status_code=status_code,
        cookies=cookies,
    )


def see_other(location: str) -> Redirect:
    return Redirect(location, status_code=303)


def local_path(target: str | None, fallback: str) -> str:
    """``target`` if it is a path of this site (never another host), else ``fallback``."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


def sign_in_required(request: Request[Any, Any, Any], _: SignInRequired) -> Response[Any]:
    return see_other("/login?next=" + quote(request.url.path + (f"?{request.url.query}" if request.url.query else "")))


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """An error met by a page, as a page: its status, a sentence and a way back."""
    if isinstance(exc, HTTPException):
        status = exc.status_code
        detail: Text | str = exc.detail if status < 500 else ""
        if isinstance(exc, Problem) and status < 500:
            detail = exc.detail_text  # translated with its values, not as the English sentence
    else:
        logger.exception("unexpected error on a page: %s", type(exc).__name__)
        status, detail = 500, ""
    lang = language_of(request)
    return page(
        request,
        "error.html",
        status_code=status,
        status=status,
        detail=translate(detail, lang) if detail else "",
    )


PAGE_EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    SignInRequired: sign_in_required,
    # Before the app's problem-details handler: a service's Problem on a page is a page too.
    ProblemDetailsException: error_page,
    HTTPException: error_page,
    Exception: error_page,
}
