"""Possible duplicates (SPEC §4, §14, §15): same patient, onset within 3 days, and the same code or texts that
match once case, accents and spaces are set aside (or are at least 85 % similar). Linked, never merged.

Opposite conditions. Medical words that name opposite conditions often differ only by a prefix of
opposite meaning — hypo/hyper (hypotension, hyperglycémie, hypokaliémie…), tachy/brady (tachycardie,
bradycardie), micro/macro, oligo/poly (oligurie, polyurie) — so they are more than 85 % similar although
they name different conditions. The rule is general rather than a list of pairs: each word is split into
an opposing prefix and its stem; texts that are not equal never match by similarity when one names a stem
(equal, or itself 85 % similar so that a typo does not hide the opposition) with a prefix of an axis and
the other names that stem on the same axis with another set of prefixes ("hypotension" against
"hypertension", but not "hypotension puis hypertension" against "hypertension puis hypotension").
Typos, plurals, accents and case still match ("somnolance"/"somnolence", "vertiges"/"vertige"). A same
code still links, whatever the texts: the code is chosen by a person.

Missing onset. A reaction without onset date matches another when their codes are equal or their texts
match, whatever the other's onset: the reporter often does not know the date, and a missed duplicate
counts one reaction twice in the disproportionality signals, while a link is only a suggestion that a
person confirms or removes. When both onsets are known they must be within 3 days.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher

ONSET_WINDOW_DAYS = 3
SIMILARITY = 0.85
# Each axis: prefixes of opposite meaning. A word starting with one is read as (axis, prefix, stem).
OPPOSING_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("hyper", "hypo"),
    ("tachy", "brady"),
    ("macro", "micro"),
    ("poly", "olig"),  # oligurie: the "o" drops before a vowel; oligo- reads as olig + o…
)
_MIN_STEM = 3
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class ReactionKey:
    code: str | None
    text: str | None
    onset: date | None


def normalise_text(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.split())


def _similar(left: str, right: str) -> bool:
    # SequenceMatcher's ratio depends on argument order: take the better of both so the link is symmetric.
    return max(SequenceMatcher(None, left, right).ratio(), SequenceMatcher(None, right, left).ratio()) >= SIMILARITY


def _prefixed_words(normalised: str) -> list[tuple[int, str, str]]:
    """(axis, prefix, stem) of each word that starts with an opposing prefix ("hypo-tension" is one word)."""
    found = []
    for word in _WORD.findall(normalised.replace("-", "")):
        for axis, prefixes in enumerate(OPPOSING_PREFIXES):
            prefix = next((p for p in prefixes if word.startswith(p) and len(word) - len(p) >= _MIN_STEM), None)
            if prefix is not None:
                found.append((axis, prefix, word[len(prefix) :]))
                break
    return found


def _prefixes_of(words: list[tuple[int, str, str]], axis: int, stem: str) -> frozenset[str]:
    return frozenset(p for a, p, s in words if a == axis and (s == stem or _similar(s, stem)))


def name_opposite_conditions(left: str, right: str) -> bool:
    """Whether a stem appears in both texts on one axis with different prefixes (see the module docstring)."""
    left_words, right_words = _prefixed_words(left), _prefixed_words(right)
    for axis, _, stem in left_words + right_words:
        in_left, in_right = _prefixes_of(left_words, axis, stem), _prefixes_of(right_words, axis, stem)
        if in_left and in_right and in_left != in_right:
            return True
    return False


def texts_match(a: str, b: str) -> bool:
    left, right = normalise_text(a), normalise_text(b)
    if not left or not right:
        return False
    if left == right:
        return True
    return _similar(left, right) and not name_opposite_conditions(left, right)


def _onsets_compatible(a: date | None, b: date | None) -> bool:
    return a is None or b is None or abs((a - b).days) <= ONSET_WINDOW_DAYS


def reactions_match(a: ReactionKey, b: ReactionKey) -> bool:
    if not _onsets_compatible(a.onset, b.onset):
        return False
    if a.code is not None and a.code == b.code:
        return True
    return a.text is not None and b.text is not None and texts_match(a.text, b.text)


def is_possible_duplicate(new: Sequence[ReactionKey], other: Sequence[ReactionKey]) -> bool:
    return any(reactions_match(a, b) for a in new for b in other)
