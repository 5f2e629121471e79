"""Valid adverse-event reports for the intake figure, on patients within the demo prescriber's reach.

Valid against the form so that every request does the whole intake (SPEC §3 checks 1–4, then storage):
onset on or after inclusion and before today, product among the patient's prescriptions, no personal
identifier in the free texts, no fatal outcome (which would make ``date_of_death`` recommended).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import msgspec

from pv_service.reference import ReferenceData

OUTCOMES = ("recovered", "recovering", "not_recovered", "recovered_with_sequelae", "unknown")
ACTIONS = ("dose_reduced", "dose_unchanged", "withdrawn", "dose_increased")
SERIOUS_SHARE = 0.1
# Free texts as reporters type them: the term, sometimes with a word of context.
QUALIFIERS = ("", " le matin", " après la prise du soir", " depuis quelques jours", " (intensité variable)")


@dataclass
class ReachablePatient:
    registry_id: str
    inclusion: date
    products: set[str] = field(default_factory=set)


def reachable_patients(records: Iterable[Mapping[str, Any]], rpps: str) -> list[ReachablePatient]:
    """The prescriber's own patients (reference prescriber or city doctor) that have a prescription."""
    patients: dict[str, ReachablePatient] = {}
    prescriptions = []
    for record in records:
        if record["type"] == "patient" and rpps in (record["reference_prescriber"], record["city_doctor"]):
            patients[record["registry_id"]] = ReachablePatient(
                record["registry_id"], date.fromisoformat(record["inclusion_date"])
            )
        elif record["type"] == "prescription":
            prescriptions.append(record)
    for prescription in prescriptions:
        patient = patients.get(prescription["registry_id"])
        if patient is not None:
            patient.products.add(prescription["product"])
    return [p for p in patients.values() if p.products]


def _seriousness(rng: random.Random) -> dict[str, bool]:
    flags = dict.fromkeys(
        ("death", "life_threatening", "hospitalisation", "disability", "congenital_anomaly", "medically_important"),
        False,
    )
    flags["hospitalisation"] = rng.random() < SERIOUS_SHARE
    return flags


def _reaction(rng: random.Random, reference: ReferenceData, onset: date, last_day: date) -> dict[str, Any]:
    term = reference.reactions[rng.choice(sorted(reference.reactions))]
    end = None if rng.random() < 0.5 else min(last_day, onset + timedelta(days=rng.randint(1, 20)))
    return {
        "text": term.fr + rng.choice(QUALIFIERS),
        "code": term.code,
        "onset_date": onset.isoformat(),
        "end_date": end.isoformat() if end else None,
        "outcome": rng.choice(OUTCOMES),
        "severity": rng.choice(("mild", "moderate", "severe")),
        "seriousness": _seriousness(rng),
    }


def report_body(rng: random.Random, patient: ReachablePatient, reference: ReferenceData, today: date) -> dict[str, Any]:
    last_day = today - timedelta(days=1)
    onset = patient.inclusion + timedelta(days=rng.randrange((last_day - patient.inclusion).days + 1))
    return {
        "patient": {"registry_id": patient.registry_id, "weight_kg": round(rng.uniform(45, 110), 1), "pregnant": False},
        "reporter": {"profession": "physician"},
        "suspect_product": {
            "code": rng.choice(sorted(patient.products)),
            "daily_thc_mg": round(rng.uniform(1, 20), 1),
            "daily_cbd_mg": round(rng.uniform(0, 20), 1),
            "start_date": patient.inclusion.isoformat(),
            "batch": f"L{rng.randint(1000, 9999)}",
        },
        "reactions": [_reaction(rng, reference, onset, last_day)],
        "action_taken": rng.choice(ACTIONS),
        "dechallenge": rng.choice(("positive", "negative", "not_applicable")),
        "rechallenge": "not_applicable",
        "concomitant_medicines": ["paracétamol 1 g x3/j"],
        "history": "Douleurs neuropathiques depuis plusieurs années.",
        "narrative": "Effet apparu quelques jours après une augmentation de la dose.",
    }


def report_bodies(patients: list[ReachablePatient], reference: ReferenceData, today: date, count: int) -> bytes:
    """``count`` encoded bodies, one per line, each on a patient drawn at random."""
    if not patients:
        raise ValueError("the demo prescriber has no patient with a prescription: raise --patients")
    rng = random.Random(5)
    encoder = msgspec.json.Encoder()
    return b"".join(
        encoder.encode(report_body(rng, rng.choice(patients), reference, today)) + b"\n" for _ in range(count)
    )
