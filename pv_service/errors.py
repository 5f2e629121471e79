"""Problem details (RFC 9457) with field paths, SPEC §7: every error the service answers is a ``Problem``.

A ``Problem`` is Litestar's ``ProblemDetailsException`` that writes its own body, with SPEC §7's ``errors``;
Litestar's plugin answers it, and Litestar's own exceptions and any unexpected one are converted into a
``Problem`` first, so no stack trace, SQL or secret reaches a client. Named subclasses say what went
wrong where the status alone does not.

Every title, detail and message is a sentence for the person who sent the request (SPEC §15): msgspec's
and Litestar's texts (type names, ``ParamType``, Python parameter names) are rewritten here, in one place,
and the answer is written in the language the request's ``Accept-Language`` prefers (English otherwise),
``field`` and ``code`` staying the same in every language.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import msgspec
import msgspec.inspect as mi
from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.exceptions import HTTPException
from litestar.openapi import ResponseSpec
from litestar.params import ParameterKwarg
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from pv_service.i18n import preferred_language, translate
from pv_service.rules.field_error import FieldError
from pv_service.rules.personal_identifiers import redact_personal_identifiers
from pv_service.rules.text import Text

logger = logging.getLogger("pv_service")

PROBLEM_TYPE_BASE = "https://pv-service.example/problems/"
# The language of an answer whose request states no preference (SPEC §15).
DEFAULT_LANGUAGE = "en"
UNTITLED = Text("Error")
TITLES = {
    400: Text("The request is malformed"),
    401: Text("Authentication required"),
    403: Text("Not allowed for this role"),
    404: Text("Not found"),
    405: Text("Method not allowed"),
    408: Text("Request timeout"),
    409: Text("Conflict with the current state"),
    412: Text("The resource has changed"),
    413: Text("Request body too large"),
    415: Text("Unsupported media type"),
    422: Text("The request breaks a rule"),
    428: Text("If-Match required"),
    500: Text("Internal error"),
    503: Text("Service unavailable"),
}
SLUGS = {
    400: "malformed-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "rule-violation",
    428: "precondition-required",
    500: "internal-error",
    503: "unavailable",
}


# --- the language of an answer -------------------------------------------------------------------


def request_language(request: Request[Any, Any, Any]) -> str:
    """The language an answer to ``request`` is written in."""
    return preferred_language(request.headers.get("accept-language"), DEFAULT_LANGUAGE)


# --- the problems ----------------------------------------------------------------------------------


class Problem(ProblemDetailsException):
    """An error answer: status, a human detail and the field errors behind it, rendered in the request's
    language when answered."""

    def __init__(
        self,
        status: int,
        detail: Text | str = "",
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        self.errors = list(errors)
        self.title_text = TITLES.get(status, UNTITLED)
        self.detail_text = detail or self.title_text
        super().__init__(
            detail=str(self.detail_text),
            status_code=status,
            headers=headers,
            type_=PROBLEM_TYPE_BASE + SLUGS.get(status, str(status)),
            title=str(self.title_text),
        )

    def body(self, language: str) -> dict[str, Any]:
        """The problem-details document in ``language``; an identifier the client put where a field name or
        a quoted value goes comes back as its kind, never as itself."""
        redact = redact_personal_identifiers
        return {
            "status": self.status_code,
            "type": self.type_,
            "title": translate(self.title_text, language),
            "detail": redact(translate(self.detail_text, language)),
            "errors": [
                {"field": redact(e.field), "code": e.code, "message": redact(translate(e.message, language))}
                for e in self.errors
            ],
        }

    def to_response(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        language = request_language(request)
        return Response(
            self.body(language),
            headers={**(self.headers or {}), "Content-Language": language, "Vary": "Accept-Language"},
            media_type=self._PROBLEM_DETAILS_MEDIA_TYPE,
            status_code=self.status_code,
        )


# What is not found, as ``NotFound`` callers name it.
_NOT_FOUND = {
    "case": Text("No such case within your reach."),
    "patient": Text("No such patient within your reach."),
    "version": Text("No such version of this case."),
    "job": Text("No such job."),
    "digest": Text("No digest for this week."),
    "reference document": Text("No such reference document."),
    "resource": Text("Nothing here, or nothing within your reach."),
}


class NotFound(Problem):
    """Unknown, or outside the caller's reach: the two are answered alike (SPEC §14)."""

    def __init__(self, what: str = "resource") -> None:
        super().__init__(404, _NOT_FOUND.get(what, _NOT_FOUND["resource"]))


class RoleNotAllowed(Problem):
    """A role that may never use the endpoint (SPEC §14: 403 before anything else is looked at)."""

    def __init__(self, role: str) -> None:
        super().__init__(403, Text("The {role} role may not use this endpoint.", {"role": role}))


class RuleViolation(Problem):
    def __init__(self, errors: Iterable[FieldError], detail: Text | str = "") -> None:
        errors = list(errors)
        broken = (
            Text("One rule is broken; the error names its field.")
            if len(errors) == 1
            else Text("{count} rules are broken; each error names its field.", {"count": len(errors)})
        )
        super().__init__(422, detail or broken, errors)


class StateConflict(Problem):
    """The request is understood but the resource's present state refuses it."""

    def __init__(self, detail: Text | str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(409, detail, errors)


class NotForwarded(StateConflict):
    """A serious case goes to the national database within 15 days: it cannot be closed before (SPEC §15)."""

    def __init__(self) -> None:
        message = Text("A serious case must be forwarded before it is closed.")
        super().__init__(message, [FieldError("action", "not_forwarded", message)])


class IfMatchRequired(Problem):
    def __init__(self) -> None:
        super().__init__(428, Text("Send the case's ETag in If-Match."))


class StaleCase(Problem):
    """The If-Match names a state of the case that another change has replaced."""

    def __init__(self) -> None:
        super().__init__(412, Text("The case has changed since you read it; read it again."))


class MalformedRequest(Problem):
    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(400, errors[0].message if errors else "", errors)


class BodyTooLarge(Problem):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, Text("This body may hold at most {max_bytes} bytes.", {"max_bytes": max_bytes}))


def bad_request(field: str, message: Text | str) -> Problem:
    """A 400 about one query or path parameter."""
    return MalformedRequest([FieldError(field, "invalid_value", message)])


# --- msgspec decode errors → field errors ----------------------------------------------------------
# msgspec names what it expected in its own words (`float` >= 0.3, `array | null`, Invalid enum value):
# each is said again as a sentence, with the bounds, the allowed values and the unit where they are known.

_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED_FIELD = re.compile(r"`(?P<name>[^`]+)`")
_EXPECTED = re.compile(r"^Expected `(?P<kinds>[^`]+)`")
_BOUND = re.compile(r"`(?:int|float)` (?P<op>[<>]=?) (?P<value>-?[0-9.e+\-]+)")
_LENGTH = re.compile(r"`(?P<kind>\w+)` of length (?P<op>[<>]=) (?P<value>\d+)")
_STEP = re.compile(r"[^.\[\]]+|\[\d+\]")

UNKNOWN_FIELD = Text("The field '{field}' is not accepted here.")
REQUIRED_FIELD = Text("The field '{field}' is required.")
NOT_UTF8 = Text("The content is not valid UTF-8 text.")
NOT_JSON = Text("The content is not valid JSON.")
NO_BODY = Text("The request needs a JSON body.")
NOT_ALLOWED = Text("This value is not allowed.")
TOO_DEEP_TEXT = Text("The content is nested too deeply.")
# An import line nested too deep: the line as a whole is at fault (its field path is empty).
TOO_DEEP = FieldError("", "invalid_type", TOO_DEEP_TEXT)
_KINDS = {
    "int": Text("Must be a whole number."),
    "float": Text("Must be a number."),
    "str": Text("Must be text."),
    "bool": Text("Must be true or false."),
    "array": Text("Must be a list."),
    "object": Text("Must be a JSON object."),
    "date": Text("Must be a date written YYYY-MM-DD."),
    "datetime": Text("Must be a date and time in ISO 8601 with its offset, for example 2025-04-01T09:30:00Z."),
    "null": Text("Must be null."),
}
# The units of the reporting-aid form, as a sentence writes them.
_UNITS = {"kg": Text("kg"), "mg/d": Text("mg/day")}


@dataclass(frozen=True, slots=True)
class Expected:
    """What a field accepts, as far as its type says: bounds, lengths, allowed values, unit."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    allowed: tuple[str, ...] = ()
    unit: Text | str | None = None


def _field_path(path: str) -> str:
    return path[1:] if path.startswith(".") else path


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def decode_error_to_field_error(message: str, decoded_type: Any = None, *, root: str = "") -> FieldError:
    """Turn one msgspec error message into a field error; msgspec stops at the first error.

    ``decoded_type`` (what was being decoded) gives the bounds and allowed values of the field at fault;
    ``root`` is the field an error about the whole document is reported on."""
    match = _PATH.search(message)
    if match is None:
        return field_error_at("", message, expected_at(decoded_type, ""), root=root)
    path = _field_path(match.group("path"))
    return field_error_at(path, message[: match.start()], expected_at(decoded_type, path), root=root)


def field_error_at(path: str, text: str, expected: Expected | None = None, *, root: str = "") -> FieldError:
    """Classify a msgspec error text found at ``path`` into one of SPEC §14's codes, with a sentence."""
    expected = expected or Expected()
    field = path or root
    if text.startswith(("Object contains unknown field", "Object missing required field")):
        name = _NAMED_FIELD.search(text)
        named = _join(path, name.group("name")) if name else field
        if text.startswith("Object contains"):
            return FieldError(named, "unknown_field", replace(UNKNOWN_FIELD, values={"field": named}))
        return FieldError(named, "missing_element", replace(REQUIRED_FIELD, values={"field": named}))
    length = _LENGTH.search(text)
    if length is not None:
        code = "too_long" if length.group("op") == "<=" else "invalid_value"
        return FieldError(
            field, code, _length_text(length.group("kind"), length.group("op"), int(length.group("value")))
        )
    bound = _BOUND.search(text)
    if bound is not None:
        whole = "`int`" in text
        return FieldError(
            field, "out_of_range", _range_text(whole, bound.group("op"), _number(bound.group("value")), expected)
        )
    if "UTF-8" in text:
        return FieldError(field, "invalid_value", NOT_UTF8)
    if text.startswith("Expected") and "matching regex" not in text:
        return FieldError(field, "invalid_type", _kind_text(text, expected))
    if "malformed" in text or "truncated" in text:
        return FieldError(field, "invalid_type", NOT_JSON)
    return FieldError(field, "invalid_value", _value_text(text, expected))


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def _with_unit(with_unit: Text, without: Text, values: Mapping[str, object], unit: Text | str | None) -> Text:
    return replace(with_unit, values={**values, "unit": unit}) if unit else replace(without, values=values)


def _range_text(whole: bool, op: str, bound: float, expected: Expected) -> Text:
    """The sentence for a number outside its bounds: both of them when the type has both, else the one broken."""
    if expected.ge is not None and expected.le is not None:
        values = {"low": expected.ge, "high": expected.le}
        if whole:
            return Text("Must be a whole number between {low} and {high}.", values)
        return _with_unit(
            Text("Must be a number between {low} and {high} {unit}."),
            Text("Must be a number between {low} and {high}."),
            values,
            expected.unit,
        )
    if op == ">=":
        return _with_unit(
            Text("Must be at least {low} {unit}."), Text("Must be at least {low}."), {"low": bound}, expected.unit
        )
    if op == "<=":
        return _with_unit(
            Text("Must be at most {high} {unit}."), Text("Must be at most {high}."), {"high": bound}, expected.unit
        )
    if op == ">":
        return Text("Must be more than {low}.", {"low": bound})
    return Text("Must be less than {high}.", {"high": bound})


def _length_text(kind: str, op: str, length: int) -> Text:
    if op == "<=":
        if kind == "str":
            return Text("Must be at most {max} characters long.", {"max": length})
        return Text("Must hold at most {max} items.", {"max": length})
    if length <= 1:
        return Text("Must not be empty.")
    if kind == "str":
        return Text("Must be at least {min} characters long.", {"min": length})
    return Text("Must hold at least {min} items.", {"min": length})


def _allowed_text(expected: Expected) -> Text:
    return Text("Must be one of: {allowed}.", {"allowed": ", ".join(expected.allowed)})


def _kind_text(text: str, expected: Expected) -> Text:
    """``Expected `float | null`, got `str```: what the field takes, in words."""
    if expected.allowed:
        return _allowed_text(expected)
    match = _EXPECTED.match(text)
    kinds = [kind.strip() for kind in match.group("kinds").split("|")] if match else []
    taken = [kind for kind in kinds if kind != "null"] or kinds
    if len(taken) == 1 and taken[0] in _KINDS:
        return _KINDS[taken[0]]
    return Text("This value is not of the expected type.")


def _value_text(text: str, expected: Expected) -> Text:
    if text.startswith(("Invalid enum value", "Invalid value")):
        return _allowed_text(expected) if expected.allowed else Text("This value is not one of those allowed.")
    if text.startswith("Invalid RFC3339 encoded datetime"):
        return _KINDS["datetime"]
    if text.startswith("Invalid RFC3339 encoded date"):
        return _KINDS["date"]
    if "matching regex" in text:
        return Text("This value is not in the expected format.")
    return NOT_ALLOWED


# --- what a type says of the field at a path ------------------------------------------------------


def expected_at(decoded_type: Any, path: str, unit: Text | str | None = None) -> Expected:
    """The bounds and allowed values of the field at ``path`` of ``decoded_type`` (nothing when unknown)."""
    node = _node_at(decoded_type, path)
    return _expected_of(node, unit) if node is not None else Expected(unit=unit)


def _node_at(decoded_type: Any, path: str) -> mi.Type | None:
    if decoded_type is None:
        return None
    try:
        node: mi.Type | None = _type_info(decoded_type)
    except (TypeError, ValueError):
        return None
    for step in _STEP.findall(path):
        if node is None:
            return None
        node = _child(node, step)
    return node


@cache
def _type_info(decoded_type: Any) -> mi.Type:
    return mi.type_info(decoded_type)


def _alternatives(node: mi.Type) -> list[mi.Type]:
    if isinstance(node, mi.UnionType):
        return [t for t in node.types if not isinstance(t, mi.NoneType)]
    if isinstance(node, mi.Metadata):
        return _alternatives(node.type)
    return [node]


def _child(node: mi.Type, step: str) -> mi.Type | None:
    alternatives = _alternatives(node)
    structs = [t for t in alternatives if isinstance(t, mi.StructType)]
    if structs and all(t.tag_field == step for t in structs):
        return mi.LiteralType(values=tuple(t.tag for t in structs))
    for candidate in alternatives:
        if step.startswith("["):
            if isinstance(candidate, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
                return candidate.item_type
        elif isinstance(candidate, (mi.StructType, mi.DataclassType)):
            for field in candidate.fields:
                if field.encode_name == step:
                    return field.type
        elif isinstance(candidate, mi.DictType):
            return candidate.value_type
    return None


def _expected_of(node: mi.Type, unit: Text | str | None) -> Expected:
    for candidate in _alternatives(node):
        if isinstance(candidate, (mi.IntType, mi.FloatType)):
            return Expected(ge=candidate.ge, gt=candidate.gt, le=candidate.le, lt=candidate.lt, unit=unit)
        allowed = _allowed_values(candidate)
        if allowed:
            return Expected(allowed=allowed, unit=unit)
    return Expected(unit=unit)


def _allowed_values(node: mi.Type) -> tuple[str, ...]:
    """The values a closed set (a Literal, an Enum, or a list of one) allows."""
    if isinstance(node, mi.LiteralType):
        return tuple(str(value) for value in node.values)
    if isinstance(node, mi.EnumType):
        return tuple(str(member.value) for member in node.cls)
    if isinstance(node, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        return _allowed_values(node.item_type)
    if isinstance(node, (mi.UnionType, mi.Metadata)):
        return next((values for t in _alternatives(node) if (values := _allowed_values(t))), ())
    return ()


# --- Litestar's exceptions → problems --------------------------------------------------------------

# Litestar's own words for these statuses ("Not Found", "Method Not Allowed") said as sentences.
_FRAMEWORK_DETAILS = {
    404: Text("Nothing is found at this address."),
    405: Text("This address does not take this method."),
    413: Text("The request body is too large."),
    415: Text("This media type is not accepted here."),
}
_MISSING_PARAMETER = re.compile(r"^Missing required \w+ parameter '(?P<name>[^']+)'")
# msgspec's words for a body it could not decode at all.
_DECODE_TEXTS = ("UTF-8", "malformed", "truncated", "Expected `", "Object ")


def _from_http_exception(exc: HTTPException, request: Request[Any, Any, Any] | None = None) -> Problem:
    if exc.status_code != 400:
        return Problem(exc.status_code, _FRAMEWORK_DETAILS.get(exc.status_code, ""), headers=exc.headers)
    items = exc.extra if isinstance(exc.extra, list) else []
    if items:
        return MalformedRequest([_validation_item(item, request) for item in items])
    return MalformedRequest([_unvalidated_request(str(exc.detail), request)])


def _unvalidated_request(detail: str, request: Request[Any, Any, Any] | None) -> FieldError:
    """A 400 Litestar raised before validation: the body could not be decoded, or a parameter is missing."""
    missing = _MISSING_PARAMETER.match(detail)
    if missing is not None:
        name = missing.group("name")
        return FieldError(name, "invalid_value", Text("The parameter '{name}' is required.", {"name": name}))
    if any(text in detail for text in _DECODE_TEXTS):
        return decode_error_to_field_error(detail, _body_type(request), root="body")
    return FieldError("request", "invalid_value", Text("The request cannot be read."))


def _validation_item(item: Any, request: Request[Any, Any, Any] | None) -> FieldError:
    if not isinstance(item, dict):
        return FieldError("request", "invalid_value", Text("The request cannot be read."))
    message = str(item.get("message", ""))
    key = str(item.get("key") or "")
    if item.get("source") == "body":
        if key == "data" and message.strip("'") == "data":
            return FieldError("body", "invalid_value", NO_BODY)
        path = "" if key == "data" else key
        expected = expected_at(_body_type(request), path, _form_unit(request, path))
        return field_error_at(path, message, expected, root="body")
    name, definition = _parameter(request, key)
    # A parameter's error keeps its one code, whatever msgspec found wrong with it.
    return replace(field_error_at(name, message, _parameter_expected(definition)), code="invalid_value")


def _handler(request: Request[Any, Any, Any] | None) -> Any:
    try:
        return request.route_handler if request is not None else None
    except (KeyError, AttributeError):
        return None


def _body_type(request: Request[Any, Any, Any] | None) -> Any:
    handler = _handler(request)
    data = handler.parsed_fn_signature.parameters.get("data") if handler is not None else None
    return data.annotation if data is not None else None


def _parameter(request: Request[Any, Any, Any] | None, key: str) -> tuple[str, Any]:
    """The name a parameter has in the request (``format``, not the handler's ``output``), and its definition,
    looked up in the handler's signature and its dependencies'."""
    handler = _handler(request)
    if handler is None:
        return key, None
    signatures = [handler.parsed_fn_signature]
    signatures += [
        getattr(provider, "parsed_fn_signature", None) for provider in handler.resolve_dependencies().values()
    ]
    for signature in signatures:
        definition = signature.parameters.get(key) if signature is not None else None
        kwarg = definition.kwarg_definition if definition is not None else None
        if isinstance(kwarg, ParameterKwarg):
            alias = getattr(kwarg, "name", None) or kwarg.query or kwarg.header or kwarg.cookie
            return alias or key, definition
    return key, None


def _parameter_expected(definition: Any) -> Expected:
    if definition is None:
        return Expected()
    kwarg = definition.kwarg_definition
    node = _node_at(definition.annotation, "")
    allowed = _allowed_values(node) if node is not None else ()
    return Expected(ge=kwarg.ge, gt=kwarg.gt, le=kwarg.le, lt=kwarg.lt, allowed=allowed)


def _form_unit(request: Request[Any, Any, Any] | None, path: str) -> Text | str | None:
    """The unit the reporting-aid form gives the field at ``path`` (reports only: registry bodies have none)."""
    try:
        form = request.app.state.context.reference.documents["form"] if request is not None else None
    except (AttributeError, KeyError):
        return None
    unit = _form_units(form).get(re.sub(r"\[\d+\]", "[]", path)) if isinstance(form, bytes) else None
    return _UNITS.get(unit, unit) if unit else None


@cache
def _form_units(form: bytes) -> dict[str, str]:
    document = msgspec.json.decode(form)
    return {
        field["path"]: field["unit"]
        for section in document.get("sections", [])
        for field in section.get("fields", [])
        if "unit" in field
    }


def _answer_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _from_http_exception(exc, request).to_response(request)


def _from_recursion(exc: RecursionError) -> Problem:
    # Only decoding a body nests this deep (SPEC §15: too deep a body is 400).
    return MalformedRequest([replace(TOO_DEEP, field="body")])


def _from_unexpected(exc: Exception) -> Problem:
    logger.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
    return Problem(HTTP_500_INTERNAL_SERVER_ERROR, Text("The service could not complete the request."))


class _ProblemDetailsPlugin(ProblemDetailsPlugin):
    """Litestar's plugin, with Litestar's own exceptions converted knowing their request: the names its
    parameters have in the URL, the type and the form of its body."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config = super().on_app_init(app_config)
        app_config.exception_handlers[HTTPException] = _answer_http_exception
        return app_config


def problem_details_plugin() -> ProblemDetailsPlugin:
    return _ProblemDetailsPlugin(
        ProblemDetailsConfig(
            exception_to_problem_detail_map={
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
            data_container=ProblemBody, description=str(TITLES[status]), media_type="application/problem+json"
        )
        for status in sorted({401, *statuses})
    }
