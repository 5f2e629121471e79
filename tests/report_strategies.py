"""Report bodies for property-based tests, built from the report's JSON Schema as shipped
(``schemas/report_body.schema.json``, SPEC §3), and the schema's own verdict on a body.

``from_schema`` turns the subset of JSON Schema the report's schema uses (``$ref``/``$defs``, ``anyOf``/``oneOf``,
``enum``, object with ``properties``/``required``/``additionalProperties``, array with ``items``/``maxItems``,
string with lengths and ``format: date``, number and integer bounds, boolean, null) into a strategy of values the
schema accepts; ``refused`` into one of values it refuses; ``accepts`` is the schema's verdict. ``report_bodies``
mixes bodies drawn from the schema alone with the valid ``report()`` of ``report_bodies.py`` with a few of its
parts redrawn, and either with one part the schema refuses, so that many bodies get past the shape check and
meet the rules of validity. Where a value names something of the registry or the reference data (the patient,
the product, a reaction's code), a known one is drawn as often as any other string.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st
from report_bodies import report

from pv_service.cases.json_schema import SCHEMA_FILE
from pv_service.reference import load_reference

Schema = Mapping[str, Any]
# A place in a body: property names, and list indexes; ``ITEM`` stands for any index where a place is named.
Place = tuple[str | int, ...]
ITEM = "[]"

SCHEMA: Schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
REFERENCE = load_reference(None)
# The prescriber's own patient, and a patient of the registry outside their reach (tests/conftest.py).
REACHABLE_PATIENT = "RC-000123"
OTHER_PATIENT = "RC-000200"
_unknown_patients = st.from_regex(r"RC-9\d{5}", fullmatch=True)
# The valid report's patient: the prescriber's own seven times in ten, else outside reach or unknown.
_patients = st.integers(0, 9).flatmap(
    lambda n: st.just(REACHABLE_PATIENT) if n < 7 else st.just(OTHER_PATIENT) if n < 9 else _unknown_patients
)
DOMAIN_VALUES: dict[Place, st.SearchStrategy[Any]] = {
    ("patient", "registry_id"): _patients,
    ("suspect_product", "code"): st.sampled_from(sorted(REFERENCE.products)),
    ("reactions", ITEM, "code"): st.sampled_from(sorted(REFERENCE.reactions)),
}
# Strings are drawn short, or at their longest (one character repeated: long texts cost nothing to draw).
SHORT_TEXT = 40
# Dates mostly around the registry's patients (included from 2022) and today; any date of the calendar too.
RECENT = st.dates(min_value=date(2022, 1, 1), max_value=date.today() + timedelta(days=2))
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
JSON_KINDS = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
# Property names: identifier-like, so that a field path naming one stays unambiguous (a dot or a bracket in a
# name would read as a step of the path).
_names = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
ANY_JSON = st.recursive(
    _scalars | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
    max_leaves=6,
)


def resolved(schema: Schema) -> Schema:
    """``schema`` with its ``$ref`` (``#/$defs/Name``, the only kind the report's schema has) followed."""
    while "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].removeprefix("#/$defs/")]
    return schema


def _alternatives(schema: Schema) -> list[Schema] | None:
    found = schema.get("anyOf", schema.get("oneOf"))
    return None if found is None else [resolved(option) for option in found]


def accepts(schema: Schema, value: Any) -> bool:
    """Whether ``value`` is valid against ``schema`` (formats asserted, as the service's decoding does)."""
    schema = resolved(schema)
    if "anyOf" in schema:
        return any(accepts(option, value) for option in schema["anyOf"])
    if "oneOf" in schema:
        return sum(accepts(option, value) for option in schema["oneOf"]) == 1
    if "enum" in schema and not any(type(value) is type(allowed) and value == allowed for allowed in schema["enum"]):
        return False
    kind = schema.get("type")
    if kind is not None and not JSON_KINDS[kind](value):
        return False
    if kind in ("number", "integer"):
        return schema.get("minimum", value) <= value <= schema.get("maximum", value)
    if kind == "string":
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            return False
        return schema.get("format") != "date" or _is_date(value)
    if kind == "array":
        within = len(value) <= schema.get("maxItems", len(value))
        return within and all(accepts(schema.get("items", {}), item) for item in value)
    if kind == "object":
        properties = schema.get("properties", {})
        if schema.get("additionalProperties", True) is False and not set(value) <= set(properties):
            return False
        return set(schema.get("required", ())) <= set(value) and all(
            accepts(properties[name], item) for name, item in value.items() if name in properties
        )
    return True


def _is_date(text: str) -> bool:
    if not DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _texts(schema: Schema) -> st.SearchStrategy[str]:
    shortest, longest = schema.get("minLength", 0), schema.get("maxLength")
    if longest is None:
        return st.text(min_size=shortest, max_size=max(shortest, SHORT_TEXT))
    short = st.text(min_size=shortest, max_size=min(longest, max(shortest, SHORT_TEXT)))
    return short | st.characters().map(lambda character: character * longest)


def from_schema(schema: Schema, place: Place = ()) -> st.SearchStrategy[Any]:
    """Values ``schema`` accepts; at a ``place`` of ``DOMAIN_VALUES``, its known values as often as the rest."""
    generic = _generic(resolved(schema), place)
    known = DOMAIN_VALUES.get(place)
    return generic if known is None else known | generic


def _generic(schema: Schema, place: Place) -> st.SearchStrategy[Any]:
    alternatives = _alternatives(schema)
    if alternatives is not None:
        drawn = st.one_of([from_schema(option, place) for option in alternatives])
        return drawn.filter(lambda value: accepts(schema, value)) if "oneOf" in schema else drawn
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        bounds = [bound for bound in (low, high) if bound is not None]
        return st.floats(low, high, allow_nan=False, allow_infinity=False) | st.sampled_from(bounds or [0])
    if kind == "string" and schema.get("format") == "date":
        return (RECENT | st.dates()).map(date.isoformat)
    if kind == "string":
        return _texts(schema)
    if kind == "array":
        most = min(schema.get("maxItems", 4), 4)
        return st.lists(from_schema(schema.get("items", {}), (*place, ITEM)), max_size=most)
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        drawn = {name: from_schema(part, (*place, name)) for name, part in properties.items()}
        return st.fixed_dictionaries(
            {name: drawn[name] for name in sorted(required)},
            optional={name: drawn[name] for name in sorted(set(drawn) - required)},
        )
    raise ValueError(f"a part of JSON Schema report_strategies does not know: {dict(schema)}")


def refused(schema: Schema, place: Place = ()) -> st.SearchStrategy[Any]:
    """Values ``schema`` refuses: of another JSON type, one past a bound, a non-date, a value outside an enum,
    an object with a property it does not declare."""
    schema = resolved(schema)
    options = [ANY_JSON]
    for option in _alternatives(schema) or [schema]:
        options += _just_outside(option, place)
    return st.one_of(options).filter(lambda value: not accepts(schema, value))


def _just_outside(schema: Schema, place: Place) -> list[st.SearchStrategy[Any]]:
    kind = schema.get("type")
    if "enum" in schema:
        return [st.sampled_from([str(allowed).upper() for allowed in schema["enum"]] + [""])]
    if kind in ("number", "integer"):
        outside = []
        if "minimum" in schema:
            outside.append(st.floats(max_value=schema["minimum"], exclude_max=True, allow_infinity=False))
        if "maximum" in schema:
            outside.append(st.floats(min_value=schema["maximum"], exclude_min=True, allow_infinity=False))
        return outside
    if kind == "string" and schema.get("format") == "date":
        return [st.sampled_from(["2023-02-30", "2023-1-5", "20230105", "2023-06-01T00:00:00", "today"])]
    if kind == "string" and "maxLength" in schema:
        return [st.characters().map(lambda character: character * (schema["maxLength"] + 1))]
    if kind == "array" and "maxItems" in schema:
        item = from_schema(schema.get("items", {}), (*place, ITEM))
        return [item.map(lambda value: [value] * (schema["maxItems"] + 1))]
    if kind == "object" and schema.get("additionalProperties", True) is False:
        unknown = _names.filter(lambda name: name not in schema.get("properties", {}))
        return [st.tuples(from_schema(schema, place), unknown, ANY_JSON).map(lambda t: {**t[0], t[1]: t[2]})]
    return []


# --- places in a body ----------------------------------------------------------------------------------


def declared(place: Place) -> Schema:
    """The schema of a part ``places_in`` found."""
    found = schema_at(place)
    assert found is not None, place
    return found


def schema_at(place: Place, schema: Schema = SCHEMA) -> Schema | None:
    """The schema of the part at ``place`` (names and indexes), or None when the schema has no such part."""
    schema = resolved(schema)
    if not place:
        return schema
    head, rest = place[0], place[1:]
    for option in _alternatives(schema) or [schema]:
        if isinstance(head, str) and head != ITEM and head in option.get("properties", {}):
            return schema_at(rest, option["properties"][head])
        if (isinstance(head, int) or head == ITEM) and option.get("type") == "array":
            return schema_at(rest, option.get("items", {}))
    return None


def parse_field(field: str) -> Place:
    """A problem's field path (``reactions[0].onset_date``, SPEC §13) as a place."""
    return tuple(int(index) if index else name for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field))


def places_in(value: Any, place: Place = ()) -> list[Place]:
    """Every part of ``value`` the schema declares, and every property it declares that ``value`` leaves out."""
    schema = schema_at(place)
    found = [place] if place else []
    if isinstance(value, dict) and schema is not None:
        declared = {
            name
            for option in _alternatives(schema) or [schema]
            if option.get("type") == "object"
            for name in option.get("properties", {})
        }
        for name in sorted(declared):
            found += places_in(value[name], (*place, name)) if name in value else [(*place, name)]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += places_in(item, (*place, index))
    return found


def _domain_place(place: Place) -> Place:
    return tuple(ITEM if isinstance(part, int) else part for part in place)


def _put(body: dict[str, Any], place: Place, value: Any) -> None:
    container: Any = body
    for part in place[:-1]:
        container = container[part]
    container[place[-1]] = value


@st.composite
def _redrawn(draw: st.DrawFn, body: Any, *, parts: int, refusing: bool) -> Any:
    """``body`` with up to ``parts`` of its parts drawn again from their schema, then, when ``refusing``, one
    part drawn from what its schema refuses."""
    body = copy.deepcopy(body)
    for _ in range(draw(st.integers(0, parts))):
        place = draw(st.sampled_from(places_in(body)))
        _put(body, place, draw(from_schema(declared(place), _domain_place(place))))
    if not refusing:
        return body
    place = draw(st.sampled_from([(), *places_in(body)]))
    broken = draw(refused(declared(place), _domain_place(place)))
    if not place:
        return broken
    _put(body, place, broken)
    return body


def report_bodies() -> st.SearchStrategy[Any]:
    """Report bodies (JSON documents), most of them valid or nearly: the valid ``report()``, on a patient within
    reach or not, with up to three parts redrawn from the schema (half of the draws), a body drawn from the
    schema alone, or either with one part, or the whole, drawn from what the schema refuses."""
    valid = _patients.map(lambda registry_id: report(patient={**report()["patient"], "registry_id": registry_id}))
    amended = valid.flatmap(lambda body: _redrawn(body, parts=3, refusing=False))
    drawn = from_schema(SCHEMA)
    return st.one_of(
        amended,
        amended,
        amended,
        drawn,
        valid.flatmap(lambda body: _redrawn(body, parts=3, refusing=True)),
        drawn.flatmap(lambda body: _redrawn(body, parts=0, refusing=True)),
    )
