"""Causality of a reaction: WHO-UMC categories and the French method's intrinsic score (Bégaud et al.,
Thérapie 1985), whose grid combines chronology C0–C3 with semiology S1–S3 (SPEC §5)."""

from __future__ import annotations

WHO_UMC = ("certain", "probable", "possible", "unlikely", "conditional", "unassessable")
CHRONOLOGY = ("C0", "C1", "C2", "C3")
SEMIOLOGY = ("S1", "S2", "S3")
BEGAUD_1985 = "begaud_1985"

# Rows C0..C3, columns S1..S3.
_INTRINSIC_GRID = {
    "C0": ("I0", "I0", "I0"),
    "C1": ("I1", "I1", "I2"),
    "C2": ("I1", "I2", "I3"),
    "C3": ("I3", "I3", "I4"),
}


def intrinsic_score(chronology: str, semiology: str) -> str:
    return _INTRINSIC_GRID[chronology][SEMIOLOGY.index(semiology)]
