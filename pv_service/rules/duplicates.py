"""Possible duplicates (SPEC §4, §14): same patient, onset within 3 days, and the same code or texts that
match once case, accents and spaces are set aside (or are at least 85 % similar). Linked, never merged."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher

ONSET_WINDOW_DAYS = 3
SIMILARITY = 0.85


@dataclass(frozen=True, slots=True)
class ReactionKey:
    code: str | None
    text: str | None
    onset: date | None


def normalise_text(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.split())


def texts_match(a: str, b: str) -> bool:
    left, right = normalise_text(a), normalise_text(b)
    if not left or not right:
        return False
    if left == right:
        return True
    # SequenceMatcher's ratio depends on argument order: take the better of both so the link is symmetric.
    return max(SequenceMatcher(None, left, right).ratio(), SequenceMatcher(None, right, left).ratio()) >= SIMILARITY


def reactions_match(a: ReactionKey, b: ReactionKey) -> bool:
    if a.onset is None or b.onset is None or abs((a.onset - b.onset).days) > ONSET_WINDOW_DAYS:
        return False
    if a.code is not None and a.code == b.code:
        return True
    return a.text is not None and b.text is not None and texts_match(a.text, b.text)


def is_possible_duplicate(new: Sequence[ReactionKey], other: Sequence[ReactionKey]) -> bool:
    return any(reactions_match(a, b) for a in new for b in other)
