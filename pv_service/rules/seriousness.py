"""Seriousness and expectedness of a case (ICH E2A; SPEC §4, §14).

A case is serious when any reaction meets a criterion; the data imply some criteria (a fatal outcome
is death). ``medically_important`` is only suggested, for coded important medical events: PV staff decide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CRITERIA = ("death", "life_threatening", "hospitalisation", "disability", "congenital_anomaly", "medically_important")


@dataclass(frozen=True, slots=True)
class Term:
    """What the vocabulary says of a coded reaction."""

    expected: bool | Mapping[str, bool]
    important_medical_event: bool


@dataclass(frozen=True, slots=True)
class ReactionSeriousness:
    criteria: tuple[str, ...]
    expected: bool


def reaction_criteria(reported: Sequence[str], outcome: str | None) -> tuple[str, ...]:
    """The reporter's criteria plus those the data imply, in the canonical order."""
    chosen = set(reported)
    if outcome == "fatal":
        chosen.add("death")
    return tuple(c for c in CRITERIA if c in chosen)


def term_expected(term: Term, ratio: str | None) -> bool:
    """Listed for cannabis medicines; a per-ratio map applies the suspect product's ratio class."""
    if isinstance(term.expected, bool):
        return term.expected
    return bool(ratio is not None and term.expected.get(ratio, False))


def reaction_expected(code: str | None, outcome: str | None, vocabulary: Mapping[str, Term], ratio: str | None) -> bool:
    """Uncoded counts as unexpected until coded; a fatal outcome is never expected."""
    if code is None or outcome == "fatal" or code not in vocabulary:
        return False
    return term_expected(vocabulary[code], ratio)


def assess_reaction(
    code: str | None,
    outcome: str | None,
    reported: Sequence[str],
    vocabulary: Mapping[str, Term],
    ratio: str | None,
) -> ReactionSeriousness:
    return ReactionSeriousness(
        criteria=reaction_criteria(reported, outcome),
        expected=reaction_expected(code, outcome, vocabulary, ratio),
    )


def case_criteria(reactions: Sequence[ReactionSeriousness]) -> tuple[str, ...]:
    chosen = {c for r in reactions for c in r.criteria}
    return tuple(c for c in CRITERIA if c in chosen)


def case_expected(reactions: Sequence[ReactionSeriousness]) -> bool:
    """A case is unexpected as soon as one reaction is."""
    return all(r.expected for r in reactions)


def suggested_criteria(codes: Sequence[str | None], chosen: Sequence[str], vocabulary: Mapping[str, Term]) -> list[str]:
    """Suggest ``medically_important`` for a coded important medical event, unless already chosen."""
    if "medically_important" in chosen:
        return []
    important = any(code in vocabulary and vocabulary[code].important_medical_event for code in codes if code)
    return ["medically_important"] if important else []
