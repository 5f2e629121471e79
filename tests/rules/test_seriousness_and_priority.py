"""Seriousness, expectedness, priority and deadlines (SPEC §4, §14 "Cases")."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pv_service.rules.priority import (
    PRIORITIES,
    PatientContext,
    deadlines,
    is_during_titration,
    is_minor,
    priority,
)
from pv_service.rules.seriousness import (
    CRITERIA,
    ReactionSeriousness,
    Term,
    assess_reaction,
    case_criteria,
    case_expected,
    reaction_criteria,
    reaction_expected,
    suggested_criteria,
    term_expected,
)

REACTIONS_JSON = Path(__file__).resolve().parents[2] / "schemas" / "reference" / "reactions.json"
OUTCOMES = ("recovered", "recovering", "not_recovered", "recovered_with_sequelae", "fatal", "unknown", None)
NOBODY = PatientContext(minor=False, pregnant=False, during_titration=False)


def load_vocabulary() -> dict[str, Term]:
    entries = json.loads(REACTIONS_JSON.read_text(encoding="utf-8"))["reactions"]
    return {
        e["code"]: Term(expected=e["expected"], important_medical_event=e["important_medical_event"]) for e in entries
    }


VOCABULARY = load_vocabulary()


@pytest.fixture
def vocabulary() -> dict[str, Term]:
    return load_vocabulary()


def test_vocabulary_fixture_holds_the_terms_the_tests_rely_on(vocabulary: dict[str, Term]) -> None:
    assert vocabulary["somnolence"] == Term(expected=True, important_medical_event=False)
    assert vocabulary["seizure"] == Term(expected=False, important_medical_event=True)
    assert vocabulary["hepatic_enzyme_increased"].expected == {
        "cbd_dominant": True,
        "balanced": False,
        "thc_dominant": False,
    }


# --- criteria -----------------------------------------------------------------------------------------------------


def test_fatal_outcome_sets_the_death_criterion() -> None:
    assert reaction_criteria([], "fatal") == ("death",)
    assert reaction_criteria(["hospitalisation"], "fatal") == ("death", "hospitalisation")


@pytest.mark.parametrize("outcome", [o for o in OUTCOMES if o != "fatal"])
def test_other_outcomes_imply_no_criterion(outcome: str | None) -> None:
    assert reaction_criteria([], outcome) == ()


def test_criteria_come_back_in_canonical_order_without_duplicates() -> None:
    reported = ["medically_important", "hospitalisation", "death", "hospitalisation", "life_threatening"]
    assert reaction_criteria(reported, None) == ("death", "life_threatening", "hospitalisation", "medically_important")
    assert reaction_criteria(["death"], "fatal") == ("death",)


def test_case_criteria_are_the_union_in_canonical_order() -> None:
    reactions = [
        ReactionSeriousness(criteria=("medically_important",), expected=True),
        ReactionSeriousness(criteria=("hospitalisation", "medically_important"), expected=True),
        ReactionSeriousness(criteria=("death",), expected=False),
    ]
    assert case_criteria(reactions) == ("death", "hospitalisation", "medically_important")


@given(reported=st.lists(st.sampled_from(CRITERIA), max_size=12), outcome=st.sampled_from(OUTCOMES))
def test_reaction_criteria_are_canonical_and_complete(reported: list[str], outcome: str | None) -> None:
    criteria = reaction_criteria(reported, outcome)
    assert list(criteria) == sorted(set(criteria), key=CRITERIA.index)
    assert set(reported) <= set(criteria)
    assert ("death" in criteria) == ("death" in reported or outcome == "fatal")


@pytest.mark.parametrize(
    ("reactions", "serious"),
    [
        ([], False),
        ([ReactionSeriousness((), True)], False),
        ([ReactionSeriousness((), False), ReactionSeriousness((), True)], False),
        ([ReactionSeriousness((), True), ReactionSeriousness(("disability",), True)], True),
        ([ReactionSeriousness(("congenital_anomaly",), False)], True),
    ],
)
def test_case_is_serious_iff_any_reaction_has_a_criterion(reactions: list[ReactionSeriousness], serious: bool) -> None:
    assert bool(case_criteria(reactions)) is serious


# --- expectedness -------------------------------------------------------------------------------------------------


def test_listed_term_is_expected(vocabulary: dict[str, Term]) -> None:
    assert reaction_expected("somnolence", "recovering", vocabulary, "thc_dominant") is True


def test_unlisted_term_is_unexpected(vocabulary: dict[str, Term]) -> None:
    assert reaction_expected("seizure", "recovered", vocabulary, "thc_dominant") is False


def test_uncoded_reaction_is_unexpected(vocabulary: dict[str, Term]) -> None:
    assert reaction_expected(None, "recovering", vocabulary, "thc_dominant") is False


def test_code_outside_the_vocabulary_is_unexpected(vocabulary: dict[str, Term]) -> None:
    assert reaction_expected("not_a_term", "recovering", vocabulary, "thc_dominant") is False


def test_fatal_reaction_is_unexpected_even_if_the_term_is_expected(vocabulary: dict[str, Term]) -> None:
    assert reaction_expected("somnolence", "fatal", vocabulary, "thc_dominant") is False
    assessed = assess_reaction("somnolence", "fatal", [], vocabulary, "thc_dominant")
    assert assessed == ReactionSeriousness(criteria=("death",), expected=False)


def test_expectedness_per_ratio_class(vocabulary: dict[str, Term]) -> None:
    assert reaction_expected("hepatic_enzyme_increased", "recovered", vocabulary, "cbd_dominant") is True
    assert reaction_expected("hepatic_enzyme_increased", "recovered", vocabulary, "balanced") is False
    assert reaction_expected("hepatic_enzyme_increased", "recovered", vocabulary, "thc_dominant") is False
    assert reaction_expected("hepatic_enzyme_increased", "recovered", vocabulary, None) is False


def test_per_ratio_map_without_the_ratio_is_unexpected() -> None:
    term = Term(expected={"cbd_dominant": True}, important_medical_event=False)
    assert term_expected(term, "cbd_dominant") is True
    assert term_expected(term, "some_new_class") is False


def test_case_is_unexpected_as_soon_as_one_reaction_is() -> None:
    assert case_expected([ReactionSeriousness((), True), ReactionSeriousness((), True)]) is True
    assert case_expected([ReactionSeriousness((), True), ReactionSeriousness((), False)]) is False


# --- suggestions ---------------------------------------------------------------------------------------------------


def test_important_medical_event_suggests_medically_important(vocabulary: dict[str, Term]) -> None:
    assert suggested_criteria(["somnolence", "seizure"], [], vocabulary) == ["medically_important"]


def test_no_suggestion_when_medically_important_is_already_chosen(vocabulary: dict[str, Term]) -> None:
    assert suggested_criteria(["seizure"], ["hospitalisation", "medically_important"], vocabulary) == []


def test_no_suggestion_without_an_important_medical_event(vocabulary: dict[str, Term]) -> None:
    assert suggested_criteria(["somnolence", None, "not_a_term"], [], vocabulary) == []
    assert suggested_criteria([], [], vocabulary) == []


def test_suggestion_is_kept_when_other_criteria_are_chosen(vocabulary: dict[str, Term]) -> None:
    assert suggested_criteria([None, "syncope"], ["hospitalisation"], vocabulary) == ["medically_important"]


# --- priority ------------------------------------------------------------------------------------------------------


def assessed(vocabulary: dict[str, Term], code: str | None, outcome: str | None = "recovering", *criteria: str):
    return assess_reaction(code, outcome, list(criteria), vocabulary, "thc_dominant")


def test_fatal_outcome_is_p1(vocabulary: dict[str, Term]) -> None:
    reactions = [assessed(vocabulary, "somnolence"), assessed(vocabulary, "somnolence", "fatal")]
    assert priority(reactions, NOBODY) == "P1"


def test_life_threatening_is_p1(vocabulary: dict[str, Term]) -> None:
    assert priority([assessed(vocabulary, "somnolence", "recovered", "life_threatening")], NOBODY) == "P1"


def test_serious_and_unexpected_reaction_is_p2(vocabulary: dict[str, Term]) -> None:
    reactions = [assessed(vocabulary, "somnolence"), assessed(vocabulary, "seizure", "recovered", "hospitalisation")]
    assert priority(reactions, NOBODY) == "P2"


def test_serious_expected_reaction_with_another_unexpected_non_serious_one_is_p3(vocabulary: dict[str, Term]) -> None:
    # P2 needs one reaction that is itself both serious and unexpected.
    reactions = [assessed(vocabulary, "somnolence", "recovered", "hospitalisation"), assessed(vocabulary, "seizure")]
    assert priority(reactions, NOBODY) == "P3"


def test_serious_expected_is_p3(vocabulary: dict[str, Term]) -> None:
    assert priority([assessed(vocabulary, "somnolence", "recovered", "hospitalisation")], NOBODY) == "P3"


def test_non_serious_unexpected_is_p4(vocabulary: dict[str, Term]) -> None:
    assert priority([assessed(vocabulary, "somnolence"), assessed(vocabulary, "seizure")], NOBODY) == "P4"


def test_non_serious_uncoded_is_p4(vocabulary: dict[str, Term]) -> None:
    assert priority([assessed(vocabulary, None)], NOBODY) == "P4"


@pytest.mark.parametrize(
    "context",
    [
        PatientContext(minor=True, pregnant=False, during_titration=False),
        PatientContext(minor=False, pregnant=True, during_titration=False),
        PatientContext(minor=False, pregnant=False, during_titration=True),
    ],
    ids=["minor", "pregnant", "during_titration"],
)
def test_non_serious_expected_in_a_minor_a_pregnancy_or_during_titration_is_p4(
    vocabulary: dict[str, Term], context: PatientContext
) -> None:
    assert priority([assessed(vocabulary, "somnolence")], context) == "P4"


def test_non_serious_expected_otherwise_is_p5(vocabulary: dict[str, Term]) -> None:
    assert priority([assessed(vocabulary, "somnolence"), assessed(vocabulary, "dry_mouth")], NOBODY) == "P5"


def test_special_situation_without_reactions_is_p5() -> None:
    assert priority([], NOBODY) == "P5"


def test_narcotic_misuse_without_reactions_is_at_least_p4() -> None:
    misuse = PatientContext(minor=False, pregnant=False, during_titration=False, narcotic_misuse=True)
    assert priority([], misuse) == "P4"


def test_context_does_not_lower_a_serious_case(vocabulary: dict[str, Term]) -> None:
    everything = PatientContext(minor=True, pregnant=True, during_titration=True)
    assert priority([assessed(vocabulary, "somnolence", "recovered", "hospitalisation")], everything) == "P3"


# --- minors and titration ----------------------------------------------------------------------------------------


def test_legal_status_minor_is_minor_whatever_the_age() -> None:
    assert is_minor("minor", 1970, date(2022, 5, 10))
    assert is_minor("minor", None, None)


@pytest.mark.parametrize(
    ("birth_year", "onset", "minor"),
    [
        (2005, date(2022, 12, 31), True),  # 17
        (2004, date(2022, 1, 1), False),  # 18 is not minor
        (2004, date(2022, 12, 31), False),
        (1970, date(2022, 5, 10), False),
        (None, date(2022, 5, 10), False),
        (2010, None, False),
    ],
)
def test_minor_is_onset_year_minus_birth_year_under_18(birth_year: int | None, onset: date | None, minor: bool) -> None:
    assert is_minor("adult", birth_year, onset) is minor
    assert is_minor("protected_adult", birth_year, onset) is minor


INCLUSION = date(2022, 5, 3)


@pytest.mark.parametrize(
    ("days_after_inclusion", "during"),
    [(0, True), (1, True), (27, True), (28, False), (60, False), (-1, False)],
)
def test_during_titration_is_the_first_28_days_from_inclusion(days_after_inclusion: int, during: bool) -> None:
    assert is_during_titration(INCLUSION, INCLUSION + timedelta(days=days_after_inclusion), 28) is during


def test_without_onset_it_is_not_during_titration() -> None:
    assert is_during_titration(INCLUSION, None, 28) is False


# --- deadlines -----------------------------------------------------------------------------------------------------

RECEIVED = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)


def test_serious_deadlines_are_24_hours_and_15_days() -> None:
    due = deadlines(True, RECEIVED)
    assert due.triage_due == datetime(2026, 3, 29, 22, 30, tzinfo=UTC)
    assert due.forward_due == datetime(2026, 4, 12, 22, 30, tzinfo=UTC)


def test_non_serious_deadlines_are_7_and_90_days() -> None:
    due = deadlines(False, RECEIVED)
    assert due.triage_due == datetime(2026, 4, 4, 22, 30, tzinfo=UTC)
    assert due.forward_due == datetime(2026, 6, 26, 22, 30, tzinfo=UTC)


# --- properties ----------------------------------------------------------------------------------------------------

codes = st.sampled_from([None, "not_a_term", *sorted(VOCABULARY)])
ratios = st.sampled_from([None, "thc_dominant", "balanced", "cbd_dominant"])
criteria_lists = st.lists(st.sampled_from(CRITERIA), max_size=3)
contexts = st.builds(PatientContext, minor=st.booleans(), pregnant=st.booleans(), during_titration=st.booleans())
raw_reactions = st.tuples(codes, st.sampled_from(OUTCOMES), criteria_lists)
seriousness_values = st.builds(
    ReactionSeriousness,
    criteria=criteria_lists.map(lambda chosen: reaction_criteria(chosen, None)),
    expected=st.booleans(),
)


def urgency(level: str) -> int:
    return PRIORITIES.index(level)


@given(
    before=st.lists(raw_reactions, max_size=3),
    after=st.lists(raw_reactions, max_size=3),
    fatal=st.tuples(codes, criteria_lists),
    ratio=ratios,
    context=contexts,
)
def test_a_fatal_outcome_anywhere_always_gives_p1(before, after, fatal, ratio, context) -> None:
    raw = [*before, (fatal[0], "fatal", fatal[1]), *after]
    reactions = [assess_reaction(code, outcome, chosen, VOCABULARY, ratio) for code, outcome, chosen in raw]
    assert priority(reactions, context) == "P1"


@given(
    reactions=st.lists(seriousness_values, min_size=1, max_size=4),
    context=contexts,
    data=st.data(),
)
def test_adding_a_criterion_never_makes_the_priority_less_urgent(reactions, context, data) -> None:
    index = data.draw(st.integers(0, len(reactions) - 1))
    criterion = data.draw(st.sampled_from(CRITERIA))
    changed = list(reactions)
    target = changed[index]
    changed[index] = ReactionSeriousness(reaction_criteria([*target.criteria, criterion], None), target.expected)
    assert urgency(priority(changed, context)) <= urgency(priority(reactions, context))


@given(
    reactions=st.lists(seriousness_values, min_size=1, max_size=4),
    context=contexts,
    data=st.data(),
)
def test_marking_a_reaction_unexpected_never_makes_the_priority_less_urgent(reactions, context, data) -> None:
    index = data.draw(st.integers(0, len(reactions) - 1))
    changed = list(reactions)
    changed[index] = ReactionSeriousness(changed[index].criteria, expected=False)
    assert urgency(priority(changed, context)) <= urgency(priority(reactions, context))


@given(reactions=st.lists(seriousness_values, max_size=5), context=contexts)
def test_priority_is_always_one_of_the_five_levels(reactions, context) -> None:
    assert priority(reactions, context) in PRIORITIES


@given(serious=st.booleans(), received=st.datetimes(datetime(2021, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_serious_deadlines_are_never_later_than_non_serious_ones(serious: bool, received: datetime) -> None:
    serious_due, other_due = deadlines(True, received), deadlines(False, received)
    assert received < serious_due.triage_due < other_due.triage_due
    assert serious_due.forward_due < other_due.forward_due
    assert deadlines(serious, received) == (serious_due if serious else other_due)
