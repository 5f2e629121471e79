"""The reporting-aid form (``schemas/forms/adverse_event.json``, SPEC §3) kept in step with the request body's types.

The form is data a client renders; ReportBody is what the service accepts. These tests walk the msgspec types and
compare: every leaf field appears once in the form with a matching type, the enums carry the Literal values, the
ranges and lengths are the Meta constraints, and the recommended list is SPEC §14's.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import msgspec
import pytest

from pv_service.reference import schemas_root
from pv_service.rules.report_body import ReportBody

FORM_PATH = schemas_root(None) / "forms" / "adverse_event.json"
REFERENCE_DIR = schemas_root(None) / "reference"

# SPEC §14 "Checks and errors": the recommended fields, written as form paths. This is the contract.
SPEC_14_RECOMMENDED = {
    "patient.weight_kg",
    "patient.pregnant",
    "suspect_product.daily_thc_mg",
    "suspect_product.daily_cbd_mg",
    "suspect_product.start_date",
    "suspect_product.batch",
    "reactions[].code",
    "reactions[].onset_date",
    "reactions[].outcome",
    "reactions[].severity",
    "action_taken",
    "dechallenge",
    "narrative",
    "date_of_death",
}

SECTION_ORDER = [
    "reporter",
    "patient",
    "suspect_product",
    "reactions",
    "special_situations",
    "treatment_course",
    "outcome_death",
    "context",
]

LANGUAGES = {"fr", "en"}
REQUIREMENTS = {"required", "required_one_of", "recommended", "optional"}

# Form type -> (msgspec leaf type, whether the leaf sits directly in a list).
FORM_TYPES: dict[str, tuple[type[msgspec.inspect.Type], bool]] = {
    "string": (msgspec.inspect.StrType, False),
    "text": (msgspec.inspect.StrType, False),
    "reference": (msgspec.inspect.StrType, False),
    "number": (msgspec.inspect.FloatType, False),
    "date": (msgspec.inspect.DateType, False),
    "boolean": (msgspec.inspect.BoolType, False),
    "enum": (msgspec.inspect.LiteralType, False),
    "enum_list": (msgspec.inspect.LiteralType, True),
    "string_list": (msgspec.inspect.StrType, True),
}


def _walk(
    info: msgspec.inspect.Type,
    prefix: str,
    leaves: dict[str, msgspec.inspect.Type],
    lists: dict[str, msgspec.inspect.ListType],
) -> None:
    if isinstance(info, msgspec.inspect.UnionType):
        members = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        assert len(members) == 1, f"{prefix}: only `X | None` unions are expected, got {info}"
        _walk(members[0], prefix, leaves, lists)
    elif isinstance(info, msgspec.inspect.StructType):
        for field in info.fields:
            _walk(field.type, f"{prefix}.{field.encode_name}" if prefix else field.encode_name, leaves, lists)
    elif isinstance(info, msgspec.inspect.ListType):
        lists[f"{prefix}[]"] = info
        _walk(info.item_type, f"{prefix}[]", leaves, lists)
    else:
        assert isinstance(
            info,
            msgspec.inspect.StrType
            | msgspec.inspect.FloatType
            | msgspec.inspect.IntType
            | msgspec.inspect.BoolType
            | msgspec.inspect.DateType
            | msgspec.inspect.LiteralType,
        ), f"{prefix}: unexpected leaf type {info}"
        leaves[prefix] = info


@cache
def body_shape() -> tuple[dict[str, msgspec.inspect.Type], dict[str, msgspec.inspect.ListType]]:
    """Leaf paths of ReportBody (``reactions[].code``) with their types, and the list paths with their ListType."""
    leaves: dict[str, msgspec.inspect.Type] = {}
    lists: dict[str, msgspec.inspect.ListType] = {}
    _walk(msgspec.inspect.type_info(ReportBody), "", leaves, lists)
    return leaves, lists


@cache
def load_form() -> dict[str, Any]:
    return json.loads(FORM_PATH.read_text(encoding="utf-8"))


def form_fields() -> list[dict[str, Any]]:
    return [field for section in load_form()["sections"] for field in section["fields"]]


def fields_by_path() -> dict[str, dict[str, Any]]:
    return {field["path"]: field for field in form_fields()}


def test_every_body_field_appears_in_the_form_and_nothing_else() -> None:
    leaves, _ = body_shape()
    paths = [field["path"] for field in form_fields()]

    assert len(paths) == len(set(paths)), "a path appears more than once in the form"
    assert set(leaves) - set(paths) == set(), "body fields missing from the form"
    assert set(paths) - set(leaves) == set(), "form fields the body does not have"


def test_sections_follow_the_case_structure_in_order() -> None:
    form = load_form()
    assert form["id"] == "adverse-event"
    assert isinstance(form["version"], int)
    assert [section["id"] for section in form["sections"]] == SECTION_ORDER
    assert all(section["fields"] for section in form["sections"])


def test_field_types_agree_with_the_body_types() -> None:
    leaves, lists = body_shape()
    for path, field in fields_by_path().items():
        assert field["type"] in FORM_TYPES, f"{path}: unknown form type {field['type']!r}"
        expected_type, in_list = FORM_TYPES[field["type"]]
        assert isinstance(leaves[path], expected_type), f"{path}: {field['type']} but the body has {leaves[path]}"
        is_list_item = path.endswith("[]") and path in lists
        assert is_list_item == in_list, f"{path}: {field['type']} does not match whether the body holds a list"


def test_enum_values_match_the_body_literals() -> None:
    leaves, _ = body_shape()
    literal_paths = {path for path, info in leaves.items() if isinstance(info, msgspec.inspect.LiteralType)}
    enum_fields = {path: field for path, field in fields_by_path().items() if field["type"] in {"enum", "enum_list"}}

    assert set(enum_fields) == literal_paths
    for path, field in enum_fields.items():
        values = [option["value"] for option in field["values"]]
        assert len(values) == len(set(values)), f"{path}: duplicate values"
        assert set(values) == set(leaves[path].values), f"{path}: values differ from the body's Literal"
    for path, field in fields_by_path().items():
        if field["type"] not in {"enum", "enum_list"}:
            assert "values" not in field, f"{path}: values on a non-enum field"


def test_recommended_fields_are_exactly_spec_14s_list() -> None:
    recommended = {path for path, field in fields_by_path().items() if field["requirement"] == "recommended"}
    assert recommended == SPEC_14_RECOMMENDED

    fields = fields_by_path()
    assert fields["patient.pregnant"]["applies_when"] == "sex F or U"
    assert fields["date_of_death"]["applies_when"] == "an outcome is fatal"
    conditional = {path for path, field in fields.items() if "applies_when" in field}
    assert conditional == {"patient.pregnant", "date_of_death"}


def test_required_fields_are_the_elements_of_a_valid_case() -> None:
    fields = fields_by_path()
    assert all(field["requirement"] in REQUIREMENTS for field in fields.values())

    required = {path for path, field in fields.items() if field["requirement"] == "required"}
    assert required == {"patient.registry_id", "suspect_product.code"}

    identity = {path for path, field in fields.items() if field.get("group") == "reaction_identity"}
    assert identity == {"reactions[].text", "reactions[].code"}
    assert fields["reactions[].text"]["requirement"] == "required_one_of"
    assert fields["reactions[].code"]["requirement"] == "recommended"
    one_of = {path for path, field in fields.items() if field["requirement"] == "required_one_of"}
    assert all("group" in fields[path] for path in one_of)


def _localized(value: Any, where: str) -> None:
    assert isinstance(value, dict), f"{where}: expected a {{fr, en}} object, got {value!r}"
    assert set(value) == LANGUAGES, f"{where}: languages are {sorted(value)}"
    for language in LANGUAGES:
        text = value[language]
        assert isinstance(text, str), f"{where}.{language} is not a string"
        assert text.strip(), f"{where}.{language} is empty"
        assert text == text.strip(), f"{where}.{language} has surrounding spaces"


def test_every_label_and_help_has_french_and_english() -> None:
    form = load_form()
    _localized(form["title"], "title")
    _localized(form["intro"], "intro")
    for section in form["sections"]:
        _localized(section["title"], f"{section['id']}.title")
        _localized(section["help"], f"{section['id']}.help")
        for field in section["fields"]:
            _localized(field["label"], f"{field['path']}.label")
            _localized(field["help"], f"{field['path']}.help")
            for option in field.get("values", []):
                _localized(option["label"], f"{field['path']}={option['value']}.label")


@pytest.mark.parametrize("path", ["narrative", "history", "reactions[].text", "concomitant_medicines[]"])
def test_scanned_free_texts_warn_against_identifying_data(path: str) -> None:
    help_text = fields_by_path()[path]["help"]
    assert "NIR" in help_text["fr"] and "NIR" in help_text["en"]
    assert "téléphone" in help_text["fr"] and "phone" in help_text["en"]
    assert "électronique" in help_text["fr"] and "e-mail" in help_text["en"]


def test_number_ranges_match_the_body_constraints() -> None:
    leaves, _ = body_shape()
    numbers = {
        path for path, info in leaves.items() if isinstance(info, msgspec.inspect.FloatType | msgspec.inspect.IntType)
    }
    fields = fields_by_path()
    assert numbers == {path for path, field in fields.items() if field["type"] == "number"}
    for path in numbers:
        info, field = leaves[path], fields[path]
        assert info.gt is None and info.lt is None, f"{path}: the form only describes inclusive bounds"
        assert field["min"] == info.ge, f"{path}: min"
        assert field["max"] == info.le, f"{path}: max"
        assert isinstance(field["unit"], str) and field["unit"], f"{path}: unit"
    for path, field in fields.items():
        if field["type"] != "number":
            assert not {"min", "max", "unit"} & set(field), f"{path}: range on a non-number field"


def test_string_lengths_and_list_sizes_match_the_body_constraints() -> None:
    leaves, lists = body_shape()
    for path, field in fields_by_path().items():
        info = leaves[path]
        if isinstance(info, msgspec.inspect.StrType):
            assert field.get("max_length") == info.max_length, f"{path}: max_length"
        else:
            assert "max_length" not in field, f"{path}: max_length on a non-string field"
        if path.endswith("[]"):
            assert field.get("max_items") == lists[path].max_length, f"{path}: max_items"
        else:
            assert "max_items" not in field, f"{path}: max_items on a field that is not a list"
    sections = {section["id"]: section for section in load_form()["sections"]}
    assert sections["reactions"]["repeatable"] is True
    assert sections["reactions"]["max_items"] == lists["reactions[]"].max_length


def test_reference_fields_name_shipped_reference_files() -> None:
    fields = fields_by_path()
    references = {path: field["reference"] for path, field in fields.items() if field["type"] == "reference"}
    assert references == {"suspect_product.code": "products", "reactions[].code": "reactions"}
    assert all("reference" not in field for field in fields.values() if field["type"] != "reference")
    for path, name in references.items():
        reference_file = REFERENCE_DIR / f"{name}.json"
        assert reference_file.is_file(), f"{path}: no {reference_file.name} in schemas/reference"
        entries = json.loads(reference_file.read_text(encoding="utf-8"))[name]
        assert entries and all(isinstance(entry["code"], str) and entry["code"] for entry in entries), path
