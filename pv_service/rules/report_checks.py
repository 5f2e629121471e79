"""The validity and completeness checks of a report against the reporting-aid form (SPEC §3, §14).

Validity errors make the case unacceptable (422, all reported at once); missing recommended fields only
lower ``completeness`` and drive follow-up requests.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

from pv_service.rules.field_error import FieldError
from pv_service.rules.personal_identifiers import personal_identifier_errors
from pv_service.rules.report_body import ReportBody
from pv_service.rules.text import Text

PROFESSION_OF_ROLE = {"prescriber": "physician", "pharmacist": "pharmacist"}
# Age bounds outside which a pregnancy is implausible (SPEC §14).
PREGNANCY_MIN_AGE = 10
PREGNANCY_MAX_AGE = 60


@dataclass(frozen=True, slots=True)
class ReportedPatient:
    """The registry's facts about the patient a report names."""

    sex: str
    birth_year: int | None
    inclusion_date: date


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def earliest_onset(body: ReportBody) -> date | None:
    onsets = [r.onset_date for r in body.reactions or [] if r.onset_date is not None]
    return min(onsets) if onsets else None


def is_fatal(body: ReportBody) -> bool:
    return any(
        r.outcome == "fatal" or (r.seriousness is not None and r.seriousness.death) for r in body.reactions or []
    )


def missing_elements(body: ReportBody) -> list[FieldError]:
    """The four elements of a valid case (ICH E2D); the reporter comes from the token."""
    errors = []
    if body.patient is None:
        errors.append(FieldError("patient", "missing_element", Text("A valid case needs an identifiable patient.")))
    elif _blank(body.patient.registry_id):
        errors.append(
            FieldError("patient.registry_id", "missing_element", Text("The patient's registry id is required."))
        )
    if body.suspect_product is None:
        errors.append(FieldError("suspect_product", "missing_element", Text("A valid case needs a suspect product.")))
    elif _blank(body.suspect_product.code):
        errors.append(
            FieldError("suspect_product.code", "missing_element", Text("The suspect product's code is required."))
        )
    if not body.reactions and not body.special_situations:
        errors.append(
            FieldError(
                "reactions", "missing_element", Text("A valid case needs an adverse reaction or a special situation.")
            )
        )
    for index, reaction in enumerate(body.reactions or []):
        if _blank(reaction.text) and _blank(reaction.code):
            errors.append(
                FieldError(f"reactions[{index}]", "missing_element", Text("A reaction needs its text or its code."))
            )
    return errors


def _date_errors(body: ReportBody, today: date, patient: ReportedPatient | None) -> list[FieldError]:
    errors = []
    dated = [("suspect_product.start_date", body.suspect_product.start_date if body.suspect_product else None)]
    dated.append(("date_of_death", body.date_of_death))
    for index, reaction in enumerate(body.reactions or []):
        dated += [
            (f"reactions[{index}].onset_date", reaction.onset_date),
            (f"reactions[{index}].end_date", reaction.end_date),
        ]
    errors += [
        FieldError(field, "future_date", Text("The date {date} is in the future.", {"date": value.isoformat()}))
        for field, value in dated
        if value is not None and value > today
    ]
    for index, reaction in enumerate(body.reactions or []):
        onset, end = reaction.onset_date, reaction.end_date
        if patient is not None and onset is not None and onset < patient.inclusion_date:
            errors.append(
                FieldError(
                    f"reactions[{index}].onset_date",
                    "onset_before_inclusion",
                    Text(
                        "The onset precedes the patient's inclusion ({inclusion}).",
                        {"inclusion": patient.inclusion_date.isoformat()},
                    ),
                )
            )
        if onset is not None and end is not None and end < onset:
            errors.append(
                FieldError(f"reactions[{index}].end_date", "end_before_onset", Text("The end precedes the onset."))
            )
    if body.date_of_death is not None and not is_fatal(body):
        errors.append(
            FieldError(
                "date_of_death",
                "death_date_without_death",
                Text("A date of death goes with a fatal outcome or the death criterion."),
            )
        )
    return errors


def _pregnancy_errors(body: ReportBody, today: date, patient: ReportedPatient | None) -> list[FieldError]:
    if patient is None or body.patient is None or body.patient.pregnant is not True:
        return []
    onset = earliest_onset(body) or today
    age = onset.year - patient.birth_year if patient.birth_year is not None else None
    if patient.sex == "M" or (age is not None and not PREGNANCY_MIN_AGE <= age <= PREGNANCY_MAX_AGE):
        return [
            FieldError(
                "patient.pregnant", "implausible_pregnancy", Text("A pregnancy is implausible for this patient.")
            )
        ]
    return []


def free_texts(body: ReportBody) -> list[tuple[str, str | None]]:
    """The fields scanned for personal identifiers, with their paths."""
    texts: list[tuple[str, str | None]] = [("narrative", body.narrative), ("history", body.history)]
    texts += [(f"reactions[{i}].text", r.text) for i, r in enumerate(body.reactions or [])]
    texts += [(f"concomitant_medicines[{i}]", text) for i, text in enumerate(body.concomitant_medicines)]
    return texts


def validity_errors(
    body: ReportBody,
    *,
    today: date,
    patient: ReportedPatient | None,
    caller_role: str,
    known_products: Collection[str],
    known_reactions: Collection[str],
) -> list[FieldError]:
    errors = missing_elements(body)
    errors += _date_errors(body, today, patient)
    errors += _pregnancy_errors(body, today, patient)
    product = body.product_code
    if not _blank(product) and product not in known_products:
        errors.append(
            FieldError("suspect_product.code", "unknown_product", Text("The product is not in the catalogue."))
        )
    for index, reaction in enumerate(body.reactions or []):
        if not _blank(reaction.code) and reaction.code not in known_reactions:
            errors.append(
                FieldError(f"reactions[{index}].code", "unknown_reaction_code", Text("Not a term of the vocabulary."))
            )
    profession = body.reporter.profession if body.reporter else None
    expected = PROFESSION_OF_ROLE.get(caller_role)
    if profession is not None and expected is not None and profession != expected:
        reports_as = Text(
            "Your account reports as a physician."
            if expected == "physician"
            else "Your account reports as a pharmacist."
        )
        errors.append(FieldError("reporter.profession", "profession_mismatch", reports_as))
    errors += personal_identifier_errors(free_texts(body))
    return errors


def recommended_fields(body: ReportBody, sex: str | None) -> list[tuple[str, object]]:
    """The recommended fields that apply to this report, with their values (SPEC §14's list, in order)."""
    patient, product = body.patient, body.suspect_product
    fields: list[tuple[str, object]] = [("patient.weight_kg", patient.weight_kg if patient else None)]
    if sex in ("F", "U"):
        fields.append(("patient.pregnant", patient.pregnant if patient else None))
    for name in ("daily_thc_mg", "daily_cbd_mg", "start_date", "batch"):
        fields.append((f"suspect_product.{name}", getattr(product, name) if product else None))
    for index, reaction in enumerate(body.reactions or []):
        for name in ("code", "onset_date", "outcome", "severity"):
            fields.append((f"reactions[{index}].{name}", getattr(reaction, name)))
    fields += [("action_taken", body.action_taken), ("dechallenge", body.dechallenge), ("narrative", body.narrative)]
    if any(r.outcome == "fatal" for r in body.reactions or []):
        fields.append(("date_of_death", body.date_of_death))
    return fields


def completeness(body: ReportBody, sex: str | None) -> tuple[float, list[str]]:
    """Present ÷ applicable recommended fields, rounded to 2 decimals, and the absent paths."""
    fields = recommended_fields(body, sex)
    missing = [path for path, value in fields if _blank(value)]
    # Half-up, as a person rounds (Python's round() would give 0.62 for 5/8).
    return math.floor((len(fields) - len(missing)) / len(fields) * 100 + 0.5) / 100, missing


def carried_codes(body: ReportBody, earlier_codes: Sequence[str | None]) -> list[str | None]:
    """A follow-up's reaction codes: reactions keep their index, and a code given in triage stays unless the
    reporter sends another."""
    codes = []
    for index, reaction in enumerate(body.reactions or []):
        earlier = earlier_codes[index] if index < len(earlier_codes) else None
        codes.append(reaction.code or earlier)
    return codes


def follow_up_errors(body: ReportBody, registry_id: str, earlier_codes: Sequence[str | None]) -> list[FieldError]:
    """A follow-up concerns the case's own patient and amends or appends reactions, in their order."""
    errors = []
    named = body.patient.registry_id if body.patient and body.patient.registry_id else None
    if named not in (None, registry_id):
        errors.append(
            FieldError("patient.registry_id", "patient_changed", Text("A follow-up concerns the case's own patient."))
        )
    reactions = body.reactions or []
    if len(reactions) < len(earlier_codes):
        errors.append(
            FieldError(
                "reactions", "reaction_removed", Text("A follow-up may amend or append reactions, not remove them.")
            )
        )
    for index, reaction in enumerate(reactions[: len(earlier_codes)]):
        if reaction.code and reaction.code != earlier_codes[index] and reaction.code in earlier_codes:
            errors.append(
                FieldError(
                    f"reactions[{index}]", "reaction_removed", Text("Reactions keep their order; append new ones.")
                )
            )
    return errors
