"""Report bodies the tests send: one complete, valid report, and its parts to vary."""

from __future__ import annotations

from typing import Any


def report(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient": {"registry_id": "RC-000123", "weight_kg": 62.0, "pregnant": False},
        "reporter": {"profession": "physician"},
        "suspect_product": {"code": "OIL-T10", "daily_thc_mg": 5.0, "daily_cbd_mg": 0.25,
                            "start_date": "2022-05-03", "batch": "L2203"},
        "reactions": [{"text": "somnolence marquée le matin", "code": "somnolence", "onset_date": "2023-06-01",
                       "end_date": None, "outcome": "recovering", "severity": "moderate",
                       "seriousness": {"death": False, "life_threatening": False, "hospitalisation": False,
                                       "disability": False, "congenital_anomaly": False,
                                       "medically_important": False}}],
        "action_taken": "dose_reduced", "dechallenge": "positive", "rechallenge": "not_applicable",
        "date_of_death": None, "concomitant_medicines": ["prégabaline 150 mg x2/j"],
        "history": "", "narrative": "Somnolence apparue après augmentation de dose.",
    }  # fmt: skip
    body.update(changes)
    return body


def reaction(**changes: Any) -> dict[str, Any]:
    return {**report()["reactions"][0], **changes}


def serious(**flags: bool) -> dict[str, bool]:
    return {**report()["reactions"][0]["seriousness"], **flags}
