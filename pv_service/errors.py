"""Problem details (RFC 9457) with field paths, SPEC §7: every error the service answers is a ``Problem``.

A ``Problem`` is Litestar's ``ProblemDetailsException`` with SPEC §7's ``errors`` as its extra members, so
Litestar's plugin shapes the body; Litestar's own exceptions and any unexpected one are converted into a
``Problem`` first, so no stack trace, SQL or secret reaches a client. Named subclasses say what went
wrong where the status alone does not.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from litestar.exceptions import HTTPException
from litestar.openapi import ResponseSpec
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from pv_service.rules.field_error import FieldError

logger = logging.getLogger("pv_service")

PROBLEM_TYPE_BASE = "https://pv-service.example/problems/"
TITLES = {
    400: "The request is malformed",
    401: "Authentication required",
    403: "Not allowed for this role",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict with the current state",
    412: "The resource has changed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "The request breaks a rule",
    428: "If-Match required",
    500: "Internal error",
    503: "Service unavailable",
}
SLUGS = {
    400: "malformed-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "rule-violation",
    428: "precondition-required",
    500: "internal-error",
    503: "unavailable",
}


class Problem(ProblemDetailsException):
    """An error answer: status, a human detail and the field errors behind it."""

    def __init__(
        self,
        status: int,
        detail: str = "",
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        self.errors = list(errors)
        super().__init__(
            detail=detail or TITLES.get(status, "Error"),
            status_code=status,
            headers=headers,
            extra={"errors": [{"field": e.field, "code": e.code, "message": e.message} for e in self.errors]},
            type_=PROBLEM_TYPE_BASE + SLUGS.get(status, str(status)),
            title=TITLES.get(status, "Error"),
        )


class NotFound(Problem):
    """Unknown, or outside the caller's reach: the two are answered alike (SPEC §14)."""

    def __init__(self, what: str = "resource") -> None:
        super().__init__(404, f"No such {what} within your reach.")


class RuleViolation(Problem):
    def __init__(self, errors: Iterable[FieldError], detail: str = "") -> None:
        errors = list(errors)
        super().__init__(422, detail or f"{len(errors)} rule(s) broken; see errors.", errors)


class StateConflict(Problem):
    """The request is understood but the resource's present state refuses it."""

    def __init__(self, detail: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(409, detail, errors)


class NotForwarded(StateConflict):
    """A serious case goes to the national database within 15 days: it cannot be closed before (SPEC §15)."""

    def __init__(self) -> None:
        message = "A serious case is forwarded before it is closed."
        super().__init__(message, [FieldError("action", "not_forwarded", message)])


class IfMatchRequired(Problem):
    def __init__(self) -> None:
        super().__init__(428, "Send the case's ETag in If-Match.")


class StaleCase(Problem):
    """The If-Match names a state of the case that another change has replaced."""

    def __init__(self) -> None:
        super().__init__(412, "The case has changed since you read it; read it again.")


class MalformedRequest(Problem):
    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(400, errors[0].message if errors else "", errors)


class BodyTooLarge(Problem):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"This body may hold at most {max_bytes} bytes.")


def bad_request(field: str, message: str) -> Problem:
    """A 400 about one query or path parameter."""
    return MalformedRequest([FieldError(field, "invalid_value", message)])


# --- msgspec decode errors → field errors -------------------------------------------------------

_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED_FIELD = re.compile(r"`(?P<name>[^`]+)`")


def _field_path(path: str) -> str:
    return path[1:] if path.startswith(".") else path


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def decode_error_to_field_error(message: str) -> FieldError:
    """Turn one msgspec error message into a field error; msgspec stops at the first error."""
    match = _PATH.search(message)
    if match is None:
        return field_error_at("", message)
    return field_error_at(_field_path(match.group("path")), message[: match.start()])


def field_error_at(path: str, text: str) -> FieldError:
    """Classify a msgspec error text found at ``path`` into one of SPEC §14's codes."""
    if text.startswith(("Object contains unknown field", "Object missing required field")):
        name = _NAMED_FIELD.search(text)
        field = _join(path, name.group("name")) if name else path
        if text.startswith("Object contains"):
            return FieldError(field, "unknown_field", f"Unknown field '{field}'.")
        return FieldError(field, "missing_element", f"'{field}' is required.")
    if "of length <=" in text:
        return FieldError(path, "too_long", f"'{path}' is too long ({text.removeprefix('Expected ')}).")
    if re.search(r"`(int|float)` [<>]=? ", text):
        return FieldError(path, "out_of_range", f"'{path}' is out of range ({text.removeprefix('Expected ')}).")
    if text.startswith("Expected") and "matching regex" not in text and "length >=" not in text:
        where = f"'{path}'" if path else "The body"
        return FieldError(path, "invalid_type", f"{where}: {text}.")
    if "malformed" in text or "truncated" in text:
        return FieldError(path, "invalid_type", f"Malformed JSON: {text}.")
    return FieldError(path, "invalid_value", f"'{path}' has a value that is not allowed: {text}.")


# --- conversion of everything else ---------------------------------------------------------------


def _from_http_exception(exc: HTTPException) -> Problem:
    if exc.status_code == 400:
        items = exc.extra if isinstance(exc.extra, list) else []
        return MalformedRequest([_validation_item(item) for item in items] or [field_error_at("", str(exc.detail))])
    return Problem(exc.status_code, str(exc.detail), headers=exc.headers)


def _validation_item(item: Any) -> FieldError:
    if not isinstance(item, dict):
        return FieldError("", "invalid_value", "The request is malformed.")
    message = str(item.get("message", ""))
    key = str(item.get("key") or "")
    if item.get("source") == "body":
        return field_error_at("" if key == "data" else key, message)
    return FieldError(key, "invalid_value", f"'{key}' ({item.get('source', 'parameter')}): {message}")


TOO_DEEP = FieldError("", "invalid_type", "The body is nested too deeply.")


def _from_recursion(exc: RecursionError) -> Problem:
    # Only decoding a body nests this deep (SPEC §15: too deep a body is 400).
    return MalformedRequest([TOO_DEEP])


def _from_unexpected(exc: Exception) -> Problem:
    logger.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
    return Problem(HTTP_500_INTERNAL_SERVER_ERROR, "The service could not complete the request.")


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            exception_to_problem_detail_map={
                HTTPException: _from_http_exception,
                RecursionError: _from_recursion,
                Exception: _from_unexpected,
            }
        )
    )


# --- OpenAPI -------------------------------------------------------------------------------------


class ProblemFieldBody(msgspec.Struct):
    field: str
    code: str
    message: str


class ProblemBody(msgspec.Struct):
    """The body of every error answer (RFC 9457 with SPEC §7's ``errors``)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemFieldBody]


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The problem answers a route may give, for its OpenAPI document; 401 applies to every API route."""
    return {
        status: ResponseSpec(
            data_container=ProblemBody, description=TITLES[status], media_type="application/problem+json"
        )
        for status in sorted({401, *statuses})
    }
