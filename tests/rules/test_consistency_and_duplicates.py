"""Consistency with the registry, doses from dispensations, and possible duplicates (SPEC §3, §4, §14)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pv_service.rules.consistency import RecordedDose, consistency_warnings
from pv_service.rules.doses import ProductContent, compared_on_cbd, dispensed_daily_mg, milligrams
from pv_service.rules.duplicates import (
    ReactionKey,
    is_possible_duplicate,
    name_opposite_conditions,
    normalise_text,
    reactions_match,
    texts_match,
)
from pv_service.rules.field_error import FieldError

# From schemas/reference/products.json.
OIL_T10 = ProductContent(form="oil", thc=10.0, cbd=0.5)
OIL_T1C20 = ProductContent(form="oil", thc=1.0, cbd=20.0)
OIL_C50 = ProductContent(form="oil", thc=0.2, cbd=50.0)
FLOWER_T18 = ProductContent(form="flower", thc=18.0, cbd=1.0)
FLOWER_T1C12 = ProductContent(form="flower", thc=1.0, cbd=12.0)


def warnings(**changes: Any) -> list[FieldError]:
    arguments: dict[str, Any] = {
        "product_code": "OIL-T10",
        "content": OIL_T10,
        "reported_thc": 5.0,
        "reported_cbd": 0.25,
        "titration": RecordedDose(daily_thc_mg=5.0, daily_cbd_mg=0.25),
        "dispensed": RecordedDose(daily_thc_mg=5.0, daily_cbd_mg=0.25),
        "prescribed_products": {"OIL-T10"},
    }
    return consistency_warnings(**{**arguments, **changes})


def found(errors: list[FieldError]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in errors]


# --- consistency ---------------------------------------------------------------------------------------------------


def test_a_report_matching_the_registry_has_no_warning() -> None:
    assert warnings() == []


def test_product_not_prescribed() -> None:
    result = warnings(product_code="OIL-T5C5", prescribed_products={"OIL-T10", "FLOWER-T18"})
    assert found(result) == [("suspect_product.code", "product_not_prescribed")]


def test_product_not_prescribed_when_the_patient_has_no_prescription() -> None:
    assert found(warnings(prescribed_products=set())) == [("suspect_product.code", "product_not_prescribed")]


def test_dose_differs_from_titration_beyond_25_percent() -> None:
    result = warnings(reported_thc=7.5, dispensed=None)
    assert found(result) == [("suspect_product.daily_thc_mg", "dose_differs_from_titration")]
    assert found(warnings(reported_thc=3.5, dispensed=None)) == [
        ("suspect_product.daily_thc_mg", "dose_differs_from_titration")
    ]


@pytest.mark.parametrize("reported", [3.75, 4.0, 5.0, 6.0, 6.25])
def test_dose_within_25_percent_of_titration_has_no_warning(reported: float) -> None:
    assert warnings(reported_thc=reported, dispensed=None) == []


def test_dose_above_dispensed() -> None:
    result = warnings(reported_thc=7.0, titration=None)
    assert found(result) == [("suspect_product.daily_thc_mg", "dose_above_dispensed")]


@pytest.mark.parametrize("reported", [1.0, 5.0, 6.0, 6.25])
def test_dose_up_to_25_percent_above_dispensed_has_no_warning(reported: float) -> None:
    assert warnings(reported_thc=reported, titration=None) == []


def test_both_dose_warnings_at_once() -> None:
    result = warnings(reported_thc=10.0, product_code="OIL-T5C5")
    assert found(result) == [
        ("suspect_product.code", "product_not_prescribed"),
        ("suspect_product.daily_thc_mg", "dose_differs_from_titration"),
        ("suspect_product.daily_thc_mg", "dose_above_dispensed"),
    ]


def test_no_dose_warning_without_a_reported_dose() -> None:
    assert warnings(reported_thc=None, reported_cbd=None) == []


def test_no_dose_warning_without_registry_records() -> None:
    assert warnings(reported_thc=100.0, titration=None, dispensed=None) == []


def test_oil_under_1_mg_per_ml_thc_is_compared_on_cbd() -> None:
    recorded = RecordedDose(daily_thc_mg=0.2, daily_cbd_mg=50.0)
    common = {"product_code": "OIL-C50", "content": OIL_C50, "prescribed_products": {"OIL-C50"}}
    # A wildly different THC dose does not matter; the CBD dose does.
    assert warnings(**common, reported_thc=5.0, reported_cbd=50.0, titration=recorded, dispensed=recorded) == []
    result = warnings(**common, reported_thc=0.2, reported_cbd=100.0, titration=recorded, dispensed=recorded)
    assert found(result) == [
        ("suspect_product.daily_cbd_mg", "dose_differs_from_titration"),
        ("suspect_product.daily_cbd_mg", "dose_above_dispensed"),
    ]


def test_cbd_compared_product_without_a_reported_cbd_dose_has_no_dose_warning() -> None:
    recorded = RecordedDose(daily_thc_mg=0.2, daily_cbd_mg=50.0)
    result = warnings(
        product_code="OIL-C50",
        content=OIL_C50,
        prescribed_products={"OIL-C50"},
        reported_thc=9.0,
        reported_cbd=None,
        titration=recorded,
        dispensed=recorded,
    )
    assert result == []


@pytest.mark.parametrize(
    ("content", "on_cbd"),
    [(OIL_C50, True), (OIL_T1C20, False), (OIL_T10, False), (FLOWER_T18, False), (FLOWER_T1C12, False)],
)
def test_only_oils_under_1_mg_per_ml_thc_are_compared_on_cbd(content: ProductContent, on_cbd: bool) -> None:
    assert compared_on_cbd(content) is on_cbd


# --- doses ---------------------------------------------------------------------------------------------------------


def test_oil_dispensed_daily_dose_is_ml_times_mg_per_ml_over_days() -> None:
    thc, cbd = dispensed_daily_mg(OIL_T10, 14.0, 28)
    assert thc == pytest.approx(5.0)
    assert cbd == pytest.approx(0.25)


def test_flower_dispensed_daily_dose_is_grams_times_10_times_percent_over_days() -> None:
    thc, cbd = dispensed_daily_mg(FLOWER_T18, 3.0, 30)
    assert thc == pytest.approx(18.0)
    assert cbd == pytest.approx(1.0)


def test_milligrams_in_a_quantity() -> None:
    assert milligrams(OIL_C50, 10.0) == pytest.approx((2.0, 500.0))
    assert milligrams(FLOWER_T1C12, 1.0) == pytest.approx((10.0, 120.0))


# --- duplicates: texts ---------------------------------------------------------------------------------------------


def test_normalise_text_ignores_case_accents_and_spaces() -> None:
    assert normalise_text("  Somnolence   MARQUÉE\tle  matin ") == "somnolence marquee le matin"
    assert normalise_text("Nausées, céphalées") == "nausees, cephalees"
    assert normalise_text("ÇA ÏÔ") == "ca io"


def test_texts_equal_after_normalisation_match() -> None:
    assert texts_match("Somnolence marquée le matin", "somnolence  marquee LE matin")


def test_texts_at_least_85_percent_similar_match() -> None:
    # Ratio 0.93.
    assert texts_match("somnolence marquée le matin", "somnolence marquée au matin")
    # Ratio 0.97.
    assert texts_match("nausées matinales", "nausees matinale")


def test_texts_less_than_85_percent_similar_do_not_match() -> None:
    # Ratios 0.67 and 0.5.
    assert not texts_match("somnolence marquée le matin", "somnolence le soir")
    assert not texts_match("nausées", "céphalées")


def test_blank_texts_never_match() -> None:
    assert not texts_match("", "")
    assert not texts_match("   ", " ")


OPPOSITE_CONDITIONS = [
    ("hypotension", "hypertension"),
    ("hyperglycémie", "hypoglycémie"),
    ("hypokaliémie", "hyperkaliémie"),
    ("tachycardie", "bradycardie"),
]


@pytest.mark.parametrize(("left", "right"), OPPOSITE_CONDITIONS)
def test_texts_naming_opposite_conditions_never_match_however_similar(left: str, right: str) -> None:
    assert not texts_match(left, right)
    assert not texts_match(right, left)
    assert not texts_match(f"{left.upper()} sévère le matin", f"{right} severe le matin")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("hypotension", "hypertention"),
        ("hypo-tension orthostatique", "hypertension orthostatique"),
        ("oligurie", "polyurie"),
        ("microcytose", "macrocytose"),
        ("hypothermie", "hyperthermie"),
    ],
)
def test_words_that_differ_by_an_opposing_prefix_never_match(left: str, right: str) -> None:
    # The rule is not a list of pairs: any word on an axis (hypo/hyper, tachy/brady, micro/macro, oligo/poly),
    # with a typo in the stem or a hyphen after the prefix.
    assert name_opposite_conditions(normalise_text(left), normalise_text(right))
    assert not texts_match(left, right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("somnolance", "somnolence"),
        ("vertiges", "vertige"),
        ("Céphalées", "cephalees"),
        ("HYPOTENSION orthostatique", "hypotension orthostatique"),
        ("hypotension", "hypotention"),
        ("hypo-tension", "hypotension"),
        ("tachycardies", "tachycardie"),
        ("bradycardie sinusale", "bradicardie sinusale"),
        ("hypotension puis hypertension", "hypertension puis hypotension"),
    ],
)
def test_near_duplicates_with_typos_plurals_accents_or_case_still_match(left: str, right: str) -> None:
    assert texts_match(left, right)
    assert texts_match(right, left)


# --- duplicates: reactions -----------------------------------------------------------------------------------------

ONSET = date(2022, 5, 10)


def key(code: str | None = None, text: str | None = None, onset: date | None = ONSET) -> ReactionKey:
    return ReactionKey(code=code, text=text, onset=onset)


@pytest.mark.parametrize("days", [0, 1, 3, -3])
def test_onset_up_to_3_days_apart_matches(days: int) -> None:
    assert reactions_match(key("somnolence"), key("somnolence", onset=ONSET + timedelta(days=days)))


@pytest.mark.parametrize("days", [4, -4, 30])
def test_onset_4_days_apart_or_more_does_not_match(days: int) -> None:
    assert not reactions_match(key("somnolence"), key("somnolence", onset=ONSET + timedelta(days=days)))
    assert not reactions_match(key(text="somnolence"), key(text="somnolence", onset=ONSET + timedelta(days=days)))


def test_same_code_matches_whatever_the_texts() -> None:
    assert reactions_match(key("seizure", "crise convulsive"), key("seizure", "convulsions généralisées"))


def test_different_codes_and_unrelated_texts_do_not_match() -> None:
    assert not reactions_match(key("seizure", "crise convulsive"), key("somnolence", "somnolence"))
    assert not reactions_match(key("seizure"), key("somnolence"))


def test_uncoded_reactions_match_on_close_texts() -> None:
    assert reactions_match(key(text="Somnolence marquée le matin"), key(text="somnolence marquee au matin"))


def test_two_uncoded_reactions_without_text_do_not_match() -> None:
    assert not reactions_match(key(), key())


@pytest.mark.parametrize(("left", "right"), [(None, ONSET), (ONSET, None), (None, None), (None, ONSET + timedelta(30))])
def test_a_missing_onset_matches_on_the_same_code_whatever_the_other_onset(
    left: date | None, right: date | None
) -> None:
    assert reactions_match(key("somnolence", onset=left), key("somnolence", onset=right))


@pytest.mark.parametrize(("left", "right"), [(None, ONSET), (ONSET, None), (None, None)])
def test_a_missing_onset_matches_on_matching_texts(left: date | None, right: date | None) -> None:
    assert reactions_match(key(text="Somnolence marquée", onset=left), key(text="somnolance marquee", onset=right))


@pytest.mark.parametrize(("left", "right"), [(None, ONSET), (ONSET, None), (None, None)])
def test_a_missing_onset_does_not_match_different_codes_or_opposite_texts(
    left: date | None, right: date | None
) -> None:
    assert not reactions_match(key("seizure", "crise", left), key("somnolence", "somnolence", right))
    assert not reactions_match(key(text="hypotension", onset=left), key(text="hypertension", onset=right))


def test_a_coded_reaction_without_onset_links_to_a_case_whose_reaction_has_one() -> None:
    new = [key("seizure", onset=None)]
    assert is_possible_duplicate(new, [key("somnolence"), key("seizure", onset=ONSET + timedelta(days=2))])


def test_a_case_is_a_possible_duplicate_when_any_pair_of_reactions_matches() -> None:
    new = [key("seizure"), key(text="vertiges", onset=ONSET + timedelta(days=2))]
    other = [key("somnolence"), key(text="Vertiges", onset=ONSET + timedelta(days=5))]
    assert is_possible_duplicate(new, other)
    assert not is_possible_duplicate(new, [key("somnolence")])
    assert not is_possible_duplicate([], other)


def test_text_similarity_does_not_depend_on_which_report_came_first() -> None:
    # difflib's SequenceMatcher ratio depends on argument order here: 0.91 one way, 0.848 the other.
    first, second = key(text="vertiges intenses"), key(text="vertiges insenes")
    assert reactions_match(first, second) == reactions_match(second, first)


# --- properties ----------------------------------------------------------------------------------------------------

PHRASES = [
    "hypotension",
    "hypertension",
    "hypoglycémie sévère",
    "hyperglycémie sévère",
    "bradycardie",
    "somnolence marquée le matin",
    "vertiges intenses",
    "céphalées le soir",
    "nausées matinales",
    "bouche sèche",
    "anxiété majeure",
    "fatigue intense",
    "tachycardie",
]
LETTERS = "abcdefghijklmnopqrstuvwxyzé "


@st.composite
def text_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """A reported text and a copy with a few typos, so that the pair is often near the 0.85 threshold."""
    text = draw(st.sampled_from(PHRASES))
    edited = list(text)
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(edited) - 1))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        if kind == "insert":
            edited.insert(position, draw(st.sampled_from(LETTERS)))
        elif kind == "delete" and len(edited) > 1:
            del edited[position]
        else:
            edited[position] = draw(st.sampled_from(LETTERS))
    return text, "".join(edited)


codes = st.sampled_from([None, "somnolence", "seizure"])
onsets = st.one_of(st.none(), st.integers(-5, 5).map(lambda d: ONSET + timedelta(days=d)))


@settings(max_examples=400)
@example(
    texts=("vertiges intenses", "vertiges insenes"),
    first_code=None,
    second_code=None,
    first_onset=ONSET,
    second_onset=ONSET,
)
@given(texts=text_pairs(), first_code=codes, second_code=codes, first_onset=onsets, second_onset=onsets)
def test_reactions_match_is_symmetric(texts, first_code, second_code, first_onset, second_onset) -> None:
    first = ReactionKey(first_code, texts[0], first_onset)
    second = ReactionKey(second_code, texts[1], second_onset)
    assert reactions_match(first, second) == reactions_match(second, first)


@given(texts=text_pairs())
def test_texts_match_is_symmetric(texts: tuple[str, str]) -> None:
    assert texts_match(*texts) == texts_match(*reversed(texts))


@given(
    pair=st.sampled_from(OPPOSITE_CONDITIONS),
    before=st.sampled_from(["", "épisode d'", "Épisode d' "]),
    after=st.sampled_from(["", " sévère", " le matin"]),
)
def test_opposite_conditions_never_match_in_any_context(pair: tuple[str, str], before: str, after: str) -> None:
    left, right = (f"{before}{text}{after}" for text in pair)
    assert not texts_match(left, right)
    assert not reactions_match(key(text=left), key(text=right))
