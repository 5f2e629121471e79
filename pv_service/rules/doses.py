"""Daily doses from what was dispensed (SPEC §14): mg THC = ml × THC mg/ml for oils, g × 10 × THC % for
flowers. Products are compared on their dominant cannabinoid (SPEC §15): CBD for `cbd_dominant` products,
THC otherwise."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, TypeVar

T = TypeVar("T")

# The products' ratio classes (schemas/reference/products.json).
RatioClass = Literal["thc_dominant", "balanced", "cbd_dominant"]

# Below this THC content an oil is followed on its CBD dose: only for a content given without its ratio
# class (callers that do not pass it yet); the ratio class decides whenever it is known.
THC_COMPARISON_FLOOR_MG_PER_ML = 1.0


@dataclass(frozen=True, slots=True)
class ProductContent:
    form: str
    thc: float
    cbd: float
    ratio: RatioClass | None = None


def milligrams(content: ProductContent, quantity: float) -> tuple[float, float]:
    """THC and CBD milligrams in a quantity of the product (ml for oils, g for flowers)."""
    factor = 10.0 if content.form == "flower" else 1.0
    return quantity * factor * content.thc, quantity * factor * content.cbd


def compared_on_cbd(content: ProductContent) -> bool:
    """Whether doses of the product are compared on CBD, its dominant cannabinoid."""
    if content.ratio is not None:
        return content.ratio == "cbd_dominant"
    return content.form == "oil" and content.thc < THC_COMPARISON_FLOOR_MG_PER_ML


def dispensed_daily_mg(content: ProductContent, quantity: float, days_supply: int) -> tuple[float, float]:
    thc, cbd = milligrams(content, quantity)
    return thc / days_supply, cbd / days_supply


def last_on_or_before(history: Sequence[tuple[date, T]], day: date) -> T | None:
    """The value of the latest entry dated ``day`` or earlier in ``history`` (sorted by date), or None."""
    at = bisect_right(history, day, key=lambda entry: entry[0])
    return history[at - 1][1] if at else None
