"""Causality of a reaction: WHO-UMC categories and the French method's intrinsic score (Bégaud et al.,
Thérapie 1985), whose grid combines chronology C0–C3 with semiology S1–S3 (SPEC §5)."""

from __future__ import annotations

from typing import Literal, get_args

WhoUmc = Literal["certain", "probable", "possible", "unlikely", "conditional", "unassessable"]
Chronology = Literal["C0", "C1", "C2", "C3"]
Semiology = Literal["S1", "S2", "S3"]
IntrinsicScore = Literal["I0", "I1", "I2", "I3", "I4"]
WHO_UMC: tuple[WhoUmc, ...] = get_args(WhoUmc)
CHRONOLOGY: tuple[Chronology, ...] = get_args(Chronology)
SEMIOLOGY: tuple[Semiology, ...] = get_args(Semiology)
BEGAUD_1985 = "begaud_1985"

# Rows C0..C3, columns S1..S3.
_INTRINSIC_GRID: dict[Chronology, tuple[IntrinsicScore, IntrinsicScore, IntrinsicScore]] = {
    "C0": ("I0", "I0", "I0"),
    "C1": ("I1", "I1", "I2"),
    "C2": ("I1", "I2", "I3"),
    "C3": ("I3", "I3", "I4"),
}


def intrinsic_score(chronology: Chronology, semiology: Semiology) -> IntrinsicScore:
    return _INTRINSIC_GRID[chronology][SEMIOLOGY.index(semiology)]
