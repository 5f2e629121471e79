"""The reporting-aid form as a page posts it, and the report body intake takes (SPEC §3, §15 "Pages").

A page names each input after the body path it fills, with indexes (``patient.registry_id``,
``reactions[0].onset_date``, ``reactions[0].seriousness.death``); a list of choices or of lines has one
name for its values (``special_situations``, ``concomitant_medicines``). ``body_from_fields`` turns what a
form sent into a ``ReportBody`` — every value that cannot be read as its field's type is a field error,
all of them at once, never an exception — and ``fields_from_body`` turns a body back into input values,
to fill the form again (a follow-up starts from the case's last version).

Pure: no I/O, no framework; the definition is ``schemas/forms/adverse_event.json`` decoded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import msgspec

from pv_service.errors import decode_error_to_field_error
from pv_service.rules.field_error import FieldError
from pv_service.rules.report_body import ReportBody

FieldType = Literal["string", "text", "reference", "number", "date", "boolean", "enum", "enum_list", "string_list"]
Requirement = Literal["required", "required_one_of", "recommended", "optional"]
Widget = Literal["line", "lines", "paragraph", "number", "date", "checkbox", "choice", "choices"]
Localised = dict[str, str]
FormValues = Mapping[str, Sequence[str]]
"""What a form sent: each input name with its values (several for a list of choices)."""

REACTIONS = "reactions"
# The most reactions a report holds (``ReportBody.reactions``, the form's ``max_items``).
MAX_REACTIONS = 50
_INDEX = re.compile(r"\[\d+\]")
_REACTION_INPUT = re.compile(r"^reactions\[(\d+)\]\.")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
TRUE = "true"
FALSE = "false"


# --- the form definition ----------------------------------------------------------------------------


class Choice(msgspec.Struct, frozen=True):
    value: str
    label: Localised


class FormField(msgspec.Struct, frozen=True, kw_only=True):
    """One field of the form; ``path`` writes a repeated section's index as ``[]``
    (``reactions[].onset_date``) and a list field ends with ``[]`` (``special_situations[]``)."""

    path: str
    type: FieldType
    requirement: Requirement
    label: Localised
    help: Localised = {}
    values: list[Choice] = []
    reference: str | None = None
    # Fields of one group, at least one of which is required (``required_one_of``): a reaction's text or code.
    group: str | None = None
    unit: str | None = None

    @property
    def widget(self) -> Widget:
        """How a page asks for it. A boolean the form recommends has three answers (yes, no, not given): a
        choice; an optional one is a checkbox, left unticked when false."""
        if self.type == "boolean":
            return "checkbox" if self.requirement == "optional" else "choice"
        widgets: dict[str, Widget] = {
            "string": "line",
            "text": "paragraph",
            "reference": "choice",
            "number": "number",
            "date": "date",
            "enum": "choice",
            "enum_list": "choices",
            "string_list": "lines",
        }
        return widgets[self.type]

    @property
    def is_list(self) -> bool:
        return self.path.endswith("[]")

    def input_name(self, index: int = 0) -> str:
        """The input's name: the body path, with the reaction's index; a list's values share one name."""
        path = self.path[:-2] if self.is_list else self.path
        return path.replace("[]", f"[{index}]")


class FormSection(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    title: Localised
    help: Localised = {}
    fields: list[FormField]
    repeatable: bool = False
    max_items: int | None = None


class FormDefinition(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    version: int
    title: Localised
    intro: Localised = {}
    sections: list[FormSection]

    def field_at(self, path: str) -> FormField | None:
        """The field a body path names (``reactions[2].code`` → ``reactions[].code``; an item of a list field,
        the list field), or None."""
        template = _INDEX.sub("[]", path).removesuffix("[]")
        return next((f for s in self.sections for f in s.fields if f.path.removesuffix("[]") == template), None)

    def section_at(self, path: str) -> FormSection | None:
        """The section a body path lies in (``reactions[1]``, ``patient``, ``date_of_death``), or None."""
        field = self.field_at(path)
        head = _STEP.match(path)
        name = head.group(1) if head else path
        return next((s for s in self.sections if s.id == name or (field is not None and field in s.fields)), None)

    def input_names(self, reactions: int) -> list[str]:
        """Every input of the form with ``reactions`` reaction blocks, in the order the page shows them."""
        return [
            field.input_name(index)
            for section in self.sections
            for index in range(reactions if section.repeatable else 1)
            for field in section.fields
        ]


@cache
def form_definition(document: bytes) -> FormDefinition:
    """The reporting-aid form (``schemas/forms/adverse_event.json``), decoded once per document."""
    return msgspec.json.decode(document, type=FormDefinition)


def reaction_index(path: str) -> int | None:
    """The reaction a body path is about (``reactions[1].code`` → 1), or None."""
    found = re.match(r"^reactions\[(\d+)\]", path)
    return int(found.group(1)) if found else None


def input_id(name: str) -> str:
    """An element id for the input ``name`` (``reactions[0].onset_date`` → ``f-reactions-0-onset_date``): no
    dot or bracket, so ``href="#…"`` and CSS selectors need no escaping."""
    return "f-" + re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-")


def anchor_of(path: str, names: Sequence[str]) -> str | None:
    """The input an error at ``path`` is shown beside: the input of that path, the list input holding it
    (``special_situations[1]`` → ``special_situations``), or the first input of the part it names
    (``reactions[0]`` → ``reactions[0].text``, ``patient`` → ``patient.registry_id``). None when no input
    of the form concerns it (``Idempotency-Key``)."""
    if not path:
        return None
    if path in names:
        return path
    for name in names:
        if path.startswith(name + "["):
            return name
    return next((name for name in names if name.startswith((path + ".", path + "["))), None)


def reaction_count(values: FormValues) -> int:
    """How many reaction blocks a form sent: the highest index plus one, at least one, at most
    ``MAX_REACTIONS`` (a higher index is not read)."""
    indexes = [int(found.group(1)) for name in values if (found := _REACTION_INPUT.match(name))]
    return min(max(indexes, default=0) + 1, MAX_REACTIONS)


# --- form → body --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConvertedForm:
    """The body a form holds, without the values that could not be read, and an error for each of them."""

    body: ReportBody
    errors: list[FieldError]


def body_from_fields(definition: FormDefinition, values: FormValues) -> ConvertedForm:
    """The report a form sent. Empty inputs are absent fields; a trailing reaction block left empty is no
    reaction. A value of the wrong type or outside its bounds is a field error at its path (every one, not
    only the first), and the body keeps the other values."""
    document = _document(definition, values)
    errors: list[FieldError] = []
    # msgspec stops at the first error: drop the value at fault and read again, once per faulty value.
    for _ in range(len(values) + 1):
        try:
            return ConvertedForm(msgspec.convert(document, ReportBody, strict=False), errors)
        except msgspec.ValidationError as invalid:
            error = decode_error_to_field_error(str(invalid), ReportBody)
            errors.append(error)
            if not _drop(document, error.field):
                break
    return ConvertedForm(ReportBody(), errors)


def _document(definition: FormDefinition, values: FormValues) -> dict[str, Any]:
    document: dict[str, Any] = {}
    reactions: list[dict[str, Any]] = []
    for section in definition.sections:
        for index in range(reaction_count(values) if section.repeatable else 1):
            target: dict[str, Any] = {}
            for field in section.fields:
                value = _read(field, values.get(field.input_name(index), ()))
                if value is not None:
                    _put(target, _relative_path(section, field), value)
            if section.repeatable:
                reactions.append(target)
            else:
                _merge(document, target)
    while reactions and not reactions[-1]:
        reactions.pop()
    if reactions:
        document[REACTIONS] = reactions
    return document


def _relative_path(section: FormSection, field: FormField) -> str:
    """The field's path inside one item of its section when repeated (``seriousness.death``), else in the
    body (``patient.weight_kg``, ``special_situations``)."""
    path = field.path.removesuffix("[]")
    return path.removeprefix(f"{section.id}[].") if section.repeatable else path


def _read(field: FormField, sent: Sequence[str]) -> Any:
    """The value an input sent, as msgspec's lax conversion reads it; None when left empty."""
    if field.widget == "choices":
        chosen = [value for value in sent if value]
        return chosen or None
    if field.widget == "lines":
        lines = [line.strip() for value in sent for line in value.replace("\r\n", "\n").split("\n")]
        return [line for line in lines if line] or None
    value = sent[0] if sent else ""
    if field.widget == "paragraph":
        value = value.replace("\r\n", "\n")
    value = value.strip()
    if not value:
        return None
    if field.widget == "number":
        # French writes 62,5 and 1 000: both read as numbers.
        value = re.sub(r"\s+", "", value)
        if "," in value and "." not in value:
            value = value.replace(",", ".")
    return value


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[leaf] = value


def _merge(document: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            _merge(document[key], value)
        else:
            document[key] = value


def _drop(document: dict[str, Any], path: str) -> bool:
    """Remove the value at ``path`` (a reaction is emptied, keeping the others' indexes; an item of a list
    of values takes its list along); False when there is nothing there."""
    steps: list[str | int] = [name or int(index) for name, index in _STEP.findall(path)]
    parent: Any = document
    for position, step in enumerate(steps):
        holder, parent = parent, _child(parent, step)
        if parent is _ABSENT:
            return False
        at_end = position == len(steps) - 1
        following = None if at_end else steps[position + 1]
        of_plain_list = isinstance(following, int) and not isinstance(_child(parent, following), dict)
        if at_end or of_plain_list:
            if isinstance(step, int):
                holder[step] = {}
            else:
                del holder[step]
            return True
    return False


_ABSENT = object()


def _child(parent: Any, step: str | int) -> Any:
    if isinstance(step, int):
        return parent[step] if isinstance(parent, list) and step < len(parent) else _ABSENT
    return parent[step] if isinstance(parent, dict) and step in parent else _ABSENT


# --- body → form --------------------------------------------------------------------------------------


def fields_from_body(definition: FormDefinition, body: ReportBody) -> dict[str, list[str]]:
    """The input values that send ``body`` back: what fills the form again."""
    document = msgspec.to_builtins(body)
    values: dict[str, list[str]] = {}
    for section in definition.sections:
        items = (document.get(REACTIONS) or [{}]) if section.repeatable else [document]
        for index, item in enumerate(items):
            for field in section.fields:
                written = _written(field, _get(item, _relative_path(section, field)))
                if written:
                    values[field.input_name(index)] = written
    return values


def _get(document: Any, path: str) -> Any:
    for step in path.split("."):
        document = document.get(step) if isinstance(document, dict) else None
    return document


def _written(field: FormField, value: Any) -> list[str]:
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, list):
        return ["\n".join(value)] if field.widget == "lines" else [str(v) for v in value]
    if isinstance(value, bool):
        if field.widget == "checkbox":
            return [TRUE] if value else []
        return [TRUE if value else FALSE]
    if isinstance(value, float):
        return [_number(value)]
    # Dates are ISO strings already (``msgspec.to_builtins``).
    return [str(value)]


def _number(value: float) -> str:
    written = repr(value)
    return written[:-2] if written.endswith(".0") else written
