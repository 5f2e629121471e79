"""Triage priority and deadlines (SPEC §4, §14).

P1 fatal or life-threatening; P2 a reaction itself serious and unexpected; P3 other serious; P4
non-serious with an unexpected reaction, or in a minor, a pregnancy, during titration or with an overdose,
misuse, abuse or dependence reported; P5 the rest.
Serious cases are triaged within a day and forwarded within 15 days; others within 7 and 90 days
(EU good pharmacovigilance practice: 15 days serious, 90 days non-serious).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, get_args

from pv_service.rules.seriousness import ReactionSeriousness

Priority = Literal["P1", "P2", "P3", "P4", "P5"]
PRIORITIES: tuple[Priority, ...] = get_args(Priority)
SERIOUS_TRIAGE = timedelta(hours=24)
NON_SERIOUS_TRIAGE = timedelta(days=7)
SERIOUS_FORWARD = timedelta(days=15)
NON_SERIOUS_FORWARD = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class PatientContext:
    """What makes a non-serious case more urgent."""

    minor: bool
    pregnant: bool
    during_titration: bool
    # Overdose, misuse, abuse or dependence reported: addictovigilance wants it seen (SPEC §15).
    narcotic_misuse: bool = False


@dataclass(frozen=True, slots=True)
class Deadlines:
    triage_due: datetime
    forward_due: datetime


def is_minor(legal_status: str, birth_year: int | None, onset: date | None) -> bool:
    if legal_status == "minor":
        return True
    return birth_year is not None and onset is not None and onset.year - birth_year < 18


def is_during_titration(inclusion: date, onset: date | None, titration_days: int) -> bool:
    return onset is not None and 0 <= (onset - inclusion).days < titration_days


def priority(reactions: Sequence[ReactionSeriousness], context: PatientContext) -> Priority:
    criteria = {c for r in reactions for c in r.criteria}
    if criteria & {"death", "life_threatening"}:
        return "P1"
    if any(r.criteria and not r.expected for r in reactions):
        return "P2"
    if criteria:
        return "P3"
    urgent = context.minor or context.pregnant or context.during_titration or context.narcotic_misuse
    if urgent or any(not r.expected for r in reactions):
        return "P4"
    return "P5"


def deadlines(serious: bool, counted_from: datetime) -> Deadlines:
    if serious:
        return Deadlines(counted_from + SERIOUS_TRIAGE, counted_from + SERIOUS_FORWARD)
    return Deadlines(counted_from + NON_SERIOUS_TRIAGE, counted_from + NON_SERIOUS_FORWARD)
