"""Validity and completeness of an adverse-event report (SPEC §3, §12, §13 "Errors", §14 "Checks and errors")."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pv_service.rules.field_error import FieldError
from pv_service.rules.report_body import ReportBody
from pv_service.rules.report_checks import ReportedPatient, completeness, validity_errors

REFERENCE = Path(__file__).resolve().parents[2] / "schemas" / "reference"
KNOWN_PRODUCTS = frozenset(p["code"] for p in json.loads((REFERENCE / "products.json").read_text())["products"])
KNOWN_REACTIONS = frozenset(r["code"] for r in json.loads((REFERENCE / "reactions.json").read_text())["reactions"])

TODAY = date(2024, 1, 15)
PATIENT = ReportedPatient(sex="F", birth_year=1970, inclusion_date=date(2022, 5, 3))

# The SPEC §12 example, with a real narrative.
EXAMPLE: dict[str, Any] = {
    "patient": {"registry_id": "RC-000123", "weight_kg": 62.0, "pregnant": False},
    "reporter": {"profession": "physician"},
    "suspect_product": {
        "code": "OIL-T10",
        "daily_thc_mg": 7.5,
        "daily_cbd_mg": 0.4,
        "start_date": "2022-05-03",
        "batch": "L2203",
    },
    "reactions": [
        {
            "text": "somnolence marquée le matin",
            "code": "somnolence",
            "onset_date": "2022-05-10",
            "end_date": None,
            "outcome": "recovering",
            "severity": "moderate",
            "seriousness": {
                "death": False,
                "life_threatening": False,
                "hospitalisation": False,
                "disability": False,
                "congenital_anomaly": False,
                "medically_important": False,
            },
        }
    ],
    "action_taken": "dose_reduced",
    "dechallenge": "positive",
    "rechallenge": "not_applicable",
    "date_of_death": None,
    "concomitant_medicines": ["prégabaline 150 mg x2/j"],
    "history": "",
    "narrative": "Somnolence une semaine après le début (7,5 mg/j THC), régressive après réduction de dose.",
}

SECOND_REACTION: dict[str, Any] = {
    "text": "sensations vertigineuses",
    "code": "dizziness",
    "onset_date": "2022-05-12",
    "outcome": "recovered",
    "severity": "mild",
}


def report(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE)
    body.update(copy.deepcopy(changes))
    return body


def body_of(data: dict[str, Any]) -> ReportBody:
    return msgspec.convert(data, ReportBody)


def check(
    data: dict[str, Any],
    *,
    patient: ReportedPatient | None = PATIENT,
    caller_role: str = "prescriber",
    today: date = TODAY,
) -> list[FieldError]:
    return validity_errors(
        body_of(data),
        today=today,
        patient=patient,
        caller_role=caller_role,
        known_products=KNOWN_PRODUCTS,
        known_reactions=KNOWN_REACTIONS,
    )


def found(errors: list[FieldError]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in errors]


def with_reaction(index: int = 0, **changes: Any) -> dict[str, Any]:
    data = report(reactions=[copy.deepcopy(EXAMPLE["reactions"][0]), copy.deepcopy(SECOND_REACTION)])
    data["reactions"][index].update(changes)
    return data


def test_the_spec_example_is_valid() -> None:
    assert check(report()) == []


# --- missing elements -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("patient", [None, "absent"])
def test_missing_patient(patient: str | None) -> None:
    data = report()
    if patient is None:
        data["patient"] = None
    else:
        del data["patient"]
    assert found(check(data)) == [("patient", "missing_element")]


@pytest.mark.parametrize("registry_id", [None, "", "   "])
def test_missing_patient_registry_id(registry_id: str | None) -> None:
    data = report(patient={"registry_id": registry_id, "weight_kg": 62.0})
    assert found(check(data)) == [("patient.registry_id", "missing_element")]


def test_patient_without_registry_id_key() -> None:
    assert found(check(report(patient={"weight_kg": 62.0}))) == [("patient.registry_id", "missing_element")]


def test_missing_suspect_product() -> None:
    data = report(suspect_product=None)
    assert found(check(data)) == [("suspect_product", "missing_element")]


@pytest.mark.parametrize("product", [{"daily_thc_mg": 7.5}, {"code": None}])
def test_missing_suspect_product_code(product: dict[str, Any]) -> None:
    assert found(check(report(suspect_product=product))) == [("suspect_product.code", "missing_element")]


@pytest.mark.parametrize("reactions", [[], None])
def test_missing_reactions_without_special_situation(reactions: list | None) -> None:
    assert found(check(report(reactions=reactions))) == [("reactions", "missing_element")]


def test_absent_reactions_key_is_missing() -> None:
    data = report()
    del data["reactions"]
    assert found(check(data)) == [("reactions", "missing_element")]


def test_a_special_situation_alone_is_valid_without_reactions() -> None:
    assert check(report(reactions=[], special_situations=["overdose"])) == []
    assert check(report(reactions=None, special_situations=["medication_error", "lack_of_efficacy"])) == []


def test_reaction_with_neither_text_nor_code_is_missing() -> None:
    data = with_reaction(1, text=None, code=None)
    assert found(check(data)) == [("reactions[1]", "missing_element")]


def test_reaction_with_blank_text_and_no_code_is_missing() -> None:
    data = with_reaction(1, text="   ", code=None)
    assert found(check(data)) == [("reactions[1]", "missing_element")]


@pytest.mark.parametrize("kept", ["text", "code"])
def test_reaction_with_text_or_code_alone_is_enough(kept: str) -> None:
    dropped = "code" if kept == "text" else "text"
    assert check(with_reaction(1, **{dropped: None})) == []


def test_empty_body_reports_every_missing_element() -> None:
    assert found(check({})) == [
        ("patient", "missing_element"),
        ("suspect_product", "missing_element"),
        ("reactions", "missing_element"),
    ]


# --- dates ----------------------------------------------------------------------------------------------------------


def test_future_suspect_product_start_date() -> None:
    data = report()
    data["suspect_product"]["start_date"] = "2024-01-16"
    assert found(check(data)) == [("suspect_product.start_date", "future_date")]


def test_today_is_not_in_the_future() -> None:
    data = report()
    data["suspect_product"]["start_date"] = TODAY.isoformat()
    assert check(data) == []


def test_future_onset_date() -> None:
    data = with_reaction(1, onset_date="2024-02-01")
    assert found(check(data)) == [("reactions[1].onset_date", "future_date")]


def test_future_end_date() -> None:
    data = with_reaction(1, end_date="2024-02-01")
    assert found(check(data)) == [("reactions[1].end_date", "future_date")]


def test_future_date_of_death() -> None:
    data = with_reaction(0, outcome="fatal")
    data["date_of_death"] = "2024-01-20"
    assert found(check(data)) == [("date_of_death", "future_date")]


def test_onset_before_inclusion() -> None:
    data = with_reaction(1, onset_date="2022-05-02")
    assert found(check(data)) == [("reactions[1].onset_date", "onset_before_inclusion")]


def test_onset_on_inclusion_day_is_accepted() -> None:
    assert check(with_reaction(1, onset_date="2022-05-03")) == []


def test_end_before_onset() -> None:
    data = with_reaction(1, onset_date="2022-05-12", end_date="2022-05-11")
    assert found(check(data)) == [("reactions[1].end_date", "end_before_onset")]


def test_end_on_onset_day_is_accepted() -> None:
    assert check(with_reaction(1, onset_date="2022-05-12", end_date="2022-05-12")) == []


def test_date_of_death_without_death() -> None:
    data = report(date_of_death="2022-06-01")
    assert found(check(data)) == [("date_of_death", "death_date_without_death")]


def test_date_of_death_with_a_fatal_outcome_is_accepted() -> None:
    data = with_reaction(1, outcome="fatal")
    data["date_of_death"] = "2022-06-01"
    assert check(data) == []


def test_date_of_death_with_the_death_criterion_is_accepted() -> None:
    data = with_reaction(1, seriousness={"death": True})
    data["date_of_death"] = "2022-06-01"
    assert check(data) == []


def test_fatal_outcome_without_date_of_death_is_not_refused() -> None:
    assert check(with_reaction(0, outcome="fatal")) == []


# --- pregnancy ---------------------------------------------------------------------------------------------------


def pregnant_report() -> dict[str, Any]:
    return report(patient={"registry_id": "RC-000123", "weight_kg": 62.0, "pregnant": True})


def test_pregnancy_in_a_man_is_implausible() -> None:
    man = ReportedPatient(sex="M", birth_year=1990, inclusion_date=PATIENT.inclusion_date)
    assert found(check(pregnant_report(), patient=man)) == [("patient.pregnant", "implausible_pregnancy")]


@pytest.mark.parametrize(("age", "implausible"), [(9, True), (10, False), (35, False), (60, False), (61, True)])
def test_pregnancy_age_at_onset_must_be_10_to_60(age: int, implausible: bool) -> None:
    # The onset is 2022-05-10.
    patient = ReportedPatient(sex="F", birth_year=2022 - age, inclusion_date=PATIENT.inclusion_date)
    expected = [("patient.pregnant", "implausible_pregnancy")] if implausible else []
    assert found(check(pregnant_report(), patient=patient)) == expected


def test_pregnancy_age_is_taken_at_the_earliest_onset() -> None:
    # 61 at today's date (2024), 59 at the onset (2022): plausible.
    patient = ReportedPatient(sex="F", birth_year=1963, inclusion_date=PATIENT.inclusion_date)
    assert check(pregnant_report(), patient=patient) == []


@pytest.mark.parametrize("sex", ["F", "U"])
def test_pregnancy_for_sex_f_or_u_of_plausible_age_is_accepted(sex: str) -> None:
    patient = ReportedPatient(sex=sex, birth_year=1990, inclusion_date=PATIENT.inclusion_date)
    assert check(pregnant_report(), patient=patient) == []


def test_not_pregnant_in_a_man_is_accepted() -> None:
    man = ReportedPatient(sex="M", birth_year=1950, inclusion_date=PATIENT.inclusion_date)
    assert check(report(), patient=man) == []


# --- catalogue and vocabulary ---------------------------------------------------------------------------------------


def test_unknown_product() -> None:
    data = report()
    data["suspect_product"]["code"] = "OIL-T99"
    assert found(check(data)) == [("suspect_product.code", "unknown_product")]


def test_unknown_reaction_code() -> None:
    data = with_reaction(1, code="vertigo_of_doom")
    assert found(check(data)) == [("reactions[1].code", "unknown_reaction_code")]


# --- reporter -----------------------------------------------------------------------------------------------------


def test_prescriber_declaring_pharmacist_is_a_profession_mismatch() -> None:
    data = report(reporter={"profession": "pharmacist"})
    assert found(check(data, caller_role="prescriber")) == [("reporter.profession", "profession_mismatch")]


def test_pharmacist_declaring_physician_is_a_profession_mismatch() -> None:
    data = report(reporter={"profession": "physician"})
    assert found(check(data, caller_role="pharmacist")) == [("reporter.profession", "profession_mismatch")]


@pytest.mark.parametrize(
    ("reporter", "role"),
    [
        (None, "prescriber"),
        ({}, "pharmacist"),
        ({"profession": None}, "prescriber"),
        ({"profession": "physician"}, "prescriber"),
        ({"profession": "pharmacist"}, "pharmacist"),
    ],
)
def test_no_profession_mismatch_when_absent_or_matching(reporter: dict | None, role: str) -> None:
    assert check(report(reporter=reporter), caller_role=role) == []


# --- personal identifiers ---------------------------------------------------------------------------------------

PHONE = "06 12 34 56 78"
EMAIL = "jean.dupont@example.fr"


def test_personal_identifier_in_the_narrative() -> None:
    errors = check(report(narrative=f"Rappeler la patiente au {PHONE}."))
    assert found(errors) == [("narrative", "personal_identifier")]
    assert PHONE not in str(errors[0].message)


def test_personal_identifier_in_the_history() -> None:
    errors = check(report(history=f"Suivi par le Dr X ({EMAIL})"))
    assert found(errors) == [("history", "personal_identifier")]
    assert EMAIL not in str(errors[0].message)


def test_personal_identifier_in_a_reaction_text() -> None:
    nir = "170054410912370"
    errors = check(with_reaction(1, text=f"vertiges, NIR {nir}"))
    assert found(errors) == [("reactions[1].text", "personal_identifier")]
    assert nir not in str(errors[0].message)


def test_personal_identifier_in_a_concomitant_medicine() -> None:
    errors = check(report(concomitant_medicines=["prégabaline 150 mg x2/j", f"paracétamol, pharmacie {PHONE}"]))
    assert found(errors) == [("concomitant_medicines[1]", "personal_identifier")]
    assert PHONE not in str(errors[0].message)


def test_several_errors_are_reported_at_once() -> None:
    data = report(
        patient={"registry_id": "RC-000123", "pregnant": True},
        reporter={"profession": "pharmacist"},
        suspect_product={"code": "OIL-T99", "start_date": "2024-02-01"},
        reactions=[
            {"text": "somnolence", "code": "somnolence", "onset_date": "2022-05-01", "end_date": "2022-04-30"},
            {"code": "not_a_term", "onset_date": "2022-05-10"},
            {"severity": "mild"},
        ],
        date_of_death="2022-06-01",
        narrative=f"contact {EMAIL}",
    )
    man = ReportedPatient(sex="M", birth_year=1970, inclusion_date=PATIENT.inclusion_date)
    assert sorted(found(check(data, patient=man, caller_role="prescriber"))) == sorted(
        [
            ("reactions[2]", "missing_element"),
            ("suspect_product.start_date", "future_date"),
            ("reactions[0].onset_date", "onset_before_inclusion"),
            ("reactions[0].end_date", "end_before_onset"),
            ("date_of_death", "death_date_without_death"),
            ("patient.pregnant", "implausible_pregnancy"),
            ("suspect_product.code", "unknown_product"),
            ("reactions[1].code", "unknown_reaction_code"),
            ("reporter.profession", "profession_mismatch"),
            ("narrative", "personal_identifier"),
        ]
    )


# --- completeness ------------------------------------------------------------------------------------------------


def test_the_spec_example_for_a_woman_is_complete() -> None:
    assert completeness(body_of(report()), "F") == (1.0, [])


@pytest.mark.parametrize("sex", ["F", "U"])
def test_pregnancy_is_recommended_for_sex_f_or_u(sex: str) -> None:
    data = report(patient={"registry_id": "RC-000123", "weight_kg": 62.0})
    # 13 applicable fields, 12 present.
    assert completeness(body_of(data), sex) == (0.92, ["patient.pregnant"])


@pytest.mark.parametrize("sex", ["M", None])
def test_pregnancy_does_not_apply_otherwise(sex: str | None) -> None:
    data = report(patient={"registry_id": "RC-000123", "weight_kg": 62.0})
    assert completeness(body_of(data), sex) == (1.0, [])


def test_date_of_death_is_recommended_when_an_outcome_is_fatal() -> None:
    data = with_reaction(1, outcome="fatal")
    # 18 applicable fields (two reactions and date_of_death), 17 present.
    assert completeness(body_of(data), "F") == (0.94, ["date_of_death"])
    data["date_of_death"] = "2022-06-01"
    assert completeness(body_of(data), "F") == (1.0, [])


def test_date_of_death_does_not_apply_without_a_fatal_outcome() -> None:
    assert "date_of_death" not in completeness(body_of(report(date_of_death=None)), "F")[1]


def test_completeness_is_rounded_to_two_decimals() -> None:
    # Sex F, a special situation and no reaction: 9 applicable fields; 6 present gives 0.666… → 0.67.
    data = {
        "patient": {"registry_id": "RC-000123", "weight_kg": 62.0, "pregnant": False},
        "suspect_product": {"code": "OIL-T10", "daily_thc_mg": 7.5, "daily_cbd_mg": 0.4, "start_date": "2022-05-03"},
        "special_situations": ["overdose"],
        "narrative": "Surdosage accidentel.",
    }
    assert completeness(body_of(data), "F") == (0.67, ["suspect_product.batch", "action_taken", "dechallenge"])
    data["action_taken"] = "withdrawn"
    assert completeness(body_of(data), "F") == (0.78, ["suspect_product.batch", "dechallenge"])


def test_missing_paths_are_listed_in_the_spec_order() -> None:
    data = {
        "patient": {"registry_id": "RC-000123"},
        "suspect_product": {"code": "OIL-T10"},
        "reactions": [{"text": "somnolence", "outcome": "fatal"}, {"code": "dizziness"}],
        "history": "",
        "narrative": "  ",
    }
    ratio, missing = completeness(body_of(data), "U")
    assert missing == [
        "patient.weight_kg",
        "patient.pregnant",
        "suspect_product.daily_thc_mg",
        "suspect_product.daily_cbd_mg",
        "suspect_product.start_date",
        "suspect_product.batch",
        "reactions[0].code",
        "reactions[0].onset_date",
        "reactions[0].severity",
        "reactions[1].onset_date",
        "reactions[1].outcome",
        "reactions[1].severity",
        "action_taken",
        "dechallenge",
        "narrative",
        "date_of_death",
    ]
    assert ratio == round(2 / 18, 2)


def test_nothing_recommended_present_is_zero() -> None:
    data = {"patient": {"registry_id": "RC-000123"}, "suspect_product": {"code": "OIL-T10"}, "special_situations": []}
    ratio, missing = completeness(body_of(data), "M")
    assert ratio == 0.0
    assert len(missing) == 8


# --- properties ----------------------------------------------------------------------------------------------------

dates = st.dates(date(2022, 1, 1), date(2023, 12, 31)).map(date.isoformat)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


reaction_dicts = st.fixed_dictionaries(
    {},
    optional={
        "text": maybe(st.sampled_from(["", " ", "somnolence", "vertiges"])),
        "code": maybe(st.sampled_from(["somnolence", "seizure"])),
        "onset_date": maybe(dates),
        "outcome": maybe(st.sampled_from(["recovered", "recovering", "fatal", "unknown"])),
        "severity": maybe(st.sampled_from(["mild", "moderate", "severe"])),
    },
)
body_dicts = st.fixed_dictionaries(
    {},
    optional={
        "patient": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "registry_id": maybe(st.just("RC-000123")),
                    "weight_kg": maybe(st.floats(0.3, 400)),
                    "pregnant": maybe(st.booleans()),
                },
            )
        ),
        "suspect_product": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "code": maybe(st.just("OIL-T10")),
                    "daily_thc_mg": maybe(st.floats(0, 1000)),
                    "daily_cbd_mg": maybe(st.floats(0, 1000)),
                    "start_date": maybe(dates),
                    "batch": maybe(st.sampled_from(["", "L2203"])),
                },
            )
        ),
        "reactions": maybe(st.lists(reaction_dicts, max_size=4)),
        "action_taken": maybe(st.sampled_from(["withdrawn", "unknown"])),
        "dechallenge": maybe(st.sampled_from(["positive", "unknown"])),
        "narrative": maybe(st.sampled_from(["", "récit"])),
        "date_of_death": maybe(dates),
    },
)


def spec_recommended_paths(data: dict[str, Any], sex: str | None) -> set[str]:
    """Every path SPEC §14 may recommend for this body (pregnancy and date of death counted when they may apply)."""
    paths = {
        "patient.weight_kg",
        "suspect_product.daily_thc_mg",
        "suspect_product.daily_cbd_mg",
        "suspect_product.start_date",
        "suspect_product.batch",
        "action_taken",
        "dechallenge",
        "narrative",
    }
    if sex in ("F", "U"):
        paths.add("patient.pregnant")
    reactions = data.get("reactions") or []
    for index in range(len(reactions)):
        paths |= {f"reactions[{index}].{name}" for name in ("code", "onset_date", "outcome", "severity")}
    if any(r.get("outcome") == "fatal" for r in reactions):
        paths.add("date_of_death")
    return paths


@given(data=body_dicts, sex=st.sampled_from(["F", "M", "U", None]))
def test_completeness_is_a_ratio_and_missing_paths_are_recommended_ones(data: dict[str, Any], sex: str | None) -> None:
    ratio, missing = completeness(body_of(data), sex)
    assert 0.0 <= ratio <= 1.0
    assert set(missing) <= spec_recommended_paths(data, sex)
    assert len(missing) == len(set(missing))
    assert (ratio == 1.0) == (missing == [])
