"""The reporting-aid form's inputs and the report body (``cases.form_body``): a body written into the form
comes back the same; what a form sends is read leniently (French decimals, browsers' line ends) and what
cannot be read is a field error at its path, every one at once, never an exception."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pv_service.cases.form_body import (
    ConvertedForm,
    FormDefinition,
    anchor_of,
    body_from_fields,
    fields_from_body,
    form_definition,
    input_id,
    reaction_count,
)
from pv_service.reference import schemas_root
from pv_service.rules.report_body import (
    ReportBody,
    ReportedReaction,
    Reporter,
    ReportPatient,
    Seriousness,
    SuspectProduct,
)

DEFINITION: FormDefinition = form_definition((schemas_root(None) / "forms" / "adverse_event.json").read_bytes())
CRITERIA = ("death", "life_threatening", "hospitalisation", "disability", "congenital_anomaly", "medically_important")


def read(values: dict[str, str | list[str]]) -> ConvertedForm:
    return body_from_fields(DEFINITION, {k: v if isinstance(v, list) else [v] for k, v in values.items()})


# --- bodies as the form can hold them -------------------------------------------------------------------

_LETTERS = st.characters(codec="utf-8", categories=("L", "N", "P", "Zs"), exclude_characters="\u2028\u2029\x85")
line = st.text(_LETTERS, min_size=1, max_size=30).map(str.strip).filter(bool)
paragraph = st.lists(line, min_size=1, max_size=3).map("\n".join)
day = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def some_of(build: type, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A part of the body with at least one field given, or none: an empty part is no part to a form."""
    return st.builds(build, **{name: optional(strategy) for name, strategy in fields.items()}).map(
        lambda part: None if part == build() else part
    )


seriousness = st.sets(st.sampled_from(CRITERIA)).map(
    lambda ticked: Seriousness(**dict.fromkeys(ticked, True)) if ticked else None
)
reaction = st.builds(
    ReportedReaction,
    text=optional(paragraph),
    code=optional(st.sampled_from(["somnolence", "dizziness", "not-a-term"])),
    onset_date=optional(day),
    end_date=optional(day),
    outcome=optional(st.sampled_from(["recovered", "fatal", "unknown"])),
    severity=optional(st.sampled_from(["mild", "moderate", "severe"])),
    seriousness=seriousness,
).filter(lambda r: r != ReportedReaction())
bodies = st.builds(
    ReportBody,
    patient=some_of(
        ReportPatient, registry_id=line, weight_kg=st.floats(0.3, 400), pregnant=st.booleans()
    ),
    reporter=some_of(Reporter, profession=st.sampled_from(["physician", "pharmacist"])),
    suspect_product=some_of(
        SuspectProduct,
        code=line,
        daily_thc_mg=st.floats(0, 1000),
        daily_cbd_mg=st.floats(0, 1000),
        start_date=day,
        batch=line,
    ),
    reactions=optional(st.lists(reaction, min_size=1, max_size=3)),
    action_taken=optional(st.sampled_from(["withdrawn", "dose_reduced", "not_applicable"])),
    dechallenge=optional(st.sampled_from(["positive", "negative", "unknown"])),
    rechallenge=optional(st.sampled_from(["positive", "not_applicable"])),
    date_of_death=optional(day),
    concomitant_medicines=st.lists(line, max_size=3),
    history=optional(paragraph),
    narrative=optional(paragraph),
    special_situations=st.lists(st.sampled_from(["overdose", "misuse", "pregnancy_exposure"]), max_size=3),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(bodies)
def test_a_body_written_into_the_form_reads_back_the_same(body: ReportBody) -> None:
    values = fields_from_body(DEFINITION, body)
    assert body_from_fields(DEFINITION, values) == ConvertedForm(body, [])
    assert reaction_count(values) == max(len(body.reactions or []), 1)


@settings(deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*DEFINITION.input_names(2), "reactions[49].text", "other"]),
        st.lists(st.text(max_size=40), max_size=3),
    )
)
def test_whatever_a_form_sends_is_read_without_an_exception(values: dict[str, list[str]]) -> None:
    converted = body_from_fields(DEFINITION, values)
    assert isinstance(converted.body, ReportBody)
    assert all(error.field and error.code for error in converted.errors)


# --- reading what a form sends ----------------------------------------------------------------------------


def test_the_input_names_are_the_body_paths_with_indexes() -> None:
    names = DEFINITION.input_names(2)
    for name in (
        "patient.registry_id",
        "reactions[0].onset_date",
        "reactions[0].seriousness.death",
        "reactions[1].text",
        "special_situations",
        "concomitant_medicines",
        "date_of_death",
    ):
        assert name in names
    assert len(names) == len(set(names))
    assert input_id("reactions[1].seriousness.death") == "f-reactions-1-seriousness-death"


@pytest.mark.parametrize(
    ("sent", "read_as"),
    [
        ("62,5", 62.5),
        ("62.5", 62.5),
        (" 1 000 ", 1000.0),
        ("0,25", 0.25),
        ("0", 0.0),
    ],
)
def test_a_number_is_read_as_french_or_english_write_it(sent: str, read_as: float) -> None:
    converted = read({"suspect_product.daily_cbd_mg": sent})
    assert converted.errors == [] and converted.body.suspect_product == SuspectProduct(daily_cbd_mg=read_as)


def test_empty_inputs_are_absent_fields_and_lines_and_boxes_are_lists() -> None:
    converted = read({
        "patient.registry_id": "RC-000123",
        "patient.weight_kg": "",
        "patient.pregnant": "false",
        "reporter.profession": "",
        "narrative": "  ligne 1\r\nligne 2  ",
        "concomitant_medicines": "prégabaline 150 mg\r\n\r\n  paracétamol  \r\n",
        "special_situations": ["overdose", "", "misuse"],
        "reactions[0].text": "somnolence",
        "reactions[0].seriousness.hospitalisation": "true",
    })  # fmt: skip
    assert converted.errors == []
    body = converted.body
    assert body.patient == ReportPatient(registry_id="RC-000123", pregnant=False)
    assert body.reporter is None and body.suspect_product is None
    assert body.narrative == "ligne 1\nligne 2"
    assert body.concomitant_medicines == ["prégabaline 150 mg", "paracétamol"]
    assert body.special_situations == ["overdose", "misuse"]
    assert body.reactions == [ReportedReaction(text="somnolence", seriousness=Seriousness(hospitalisation=True))]


def test_an_empty_last_reaction_block_is_no_reaction_but_an_empty_middle_one_keeps_its_place() -> None:
    assert read({"reactions[0].text": "a", "reactions[1].text": "", "reactions[1].code": ""}).body.reactions == [
        ReportedReaction(text="a")
    ]
    assert read({"reactions[0].text": "", "reactions[1].text": "b"}).body.reactions == [
        ReportedReaction(),
        ReportedReaction(text="b"),
    ]
    assert read({"reactions[0].text": ""}).body.reactions is None


def test_every_value_that_cannot_be_read_is_an_error_at_its_path_and_the_rest_is_kept() -> None:
    converted = read({
        "patient.registry_id": "RC-000123",
        "patient.weight_kg": "soixante",
        "suspect_product.daily_thc_mg": "5000",
        "reactions[0].text": "somnolence",
        "reactions[0].onset_date": "31/02/2024",
        "reactions[1].end_date": "hier",
        "special_situations": ["overdose", "forged"],
    })  # fmt: skip
    by_field = {error.field: error.code for error in converted.errors}
    assert by_field == {
        "patient.weight_kg": "invalid_type",
        "suspect_product.daily_thc_mg": "out_of_range",
        "reactions[0].onset_date": "invalid_value",
        "reactions[1].end_date": "invalid_value",
        "special_situations[1]": "invalid_value",
    }
    assert converted.body.patient == ReportPatient(registry_id="RC-000123")
    assert converted.body.reactions == [ReportedReaction(text="somnolence"), ReportedReaction()]


def test_a_body_fills_the_form_as_a_reporter_would_have_typed_it() -> None:
    body = ReportBody(
        patient=ReportPatient(registry_id="RC-000123", weight_kg=62.0, pregnant=False),
        suspect_product=SuspectProduct(code="OIL-T10", daily_cbd_mg=0.25, start_date=date(2022, 5, 3)),
        reactions=[ReportedReaction(text="a", seriousness=Seriousness(death=False, disability=True))],
        concomitant_medicines=["un", "deux"],
        special_situations=["overdose", "misuse"],
    )
    assert fields_from_body(DEFINITION, body) == {
        "patient.registry_id": ["RC-000123"],
        "patient.weight_kg": ["62"],
        "patient.pregnant": ["false"],
        "suspect_product.code": ["OIL-T10"],
        "suspect_product.daily_cbd_mg": ["0.25"],
        "suspect_product.start_date": ["2022-05-03"],
        "reactions[0].text": ["a"],
        "reactions[0].seriousness.disability": ["true"],
        "concomitant_medicines": ["un\ndeux"],
        "special_situations": ["overdose", "misuse"],
    }


@pytest.mark.parametrize(
    ("path", "anchor"),
    [
        ("reactions[0].onset_date", "reactions[0].onset_date"),
        ("reactions[1]", "reactions[1].text"),
        ("reactions", "reactions[0].text"),
        ("patient", "patient.registry_id"),
        ("special_situations[1]", "special_situations"),
        ("concomitant_medicines[0]", "concomitant_medicines"),
        ("reactions[5].code", None),
        ("Idempotency-Key", None),
        ("", None),
    ],
)
def test_an_error_is_shown_beside_the_input_it_concerns(path: str, anchor: str | None) -> None:
    assert anchor_of(path, DEFINITION.input_names(2)) == anchor


def test_labels_are_found_for_paths_with_indexes() -> None:
    found = DEFINITION.field_at("reactions[3].seriousness.death")
    assert found is not None and found.label["fr"] == "Décès"
    item = DEFINITION.field_at("concomitant_medicines[2]")
    assert item is not None and item.path == "concomitant_medicines[]"
    assert DEFINITION.field_at("reactions[0]") is None
    section = DEFINITION.section_at("reactions[0]")
    assert section is not None and section.id == "reactions"
