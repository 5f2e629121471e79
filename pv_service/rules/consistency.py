"""Consistency of a report with the registry (SPEC §3 check 4): accepted, with warnings."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from pv_service.rules.doses import ProductContent, compared_on_cbd
from pv_service.rules.field_error import FieldError
from pv_service.rules.text import Text

# Relative gap between a reported and a recorded daily dose worth a warning.
DOSE_TOLERANCE = 0.25


@dataclass(frozen=True, slots=True)
class RecordedDose:
    daily_thc_mg: float
    daily_cbd_mg: float


def _differs(reported: float, recorded: float) -> bool:
    return abs(reported - recorded) > DOSE_TOLERANCE * max(recorded, 1.0)


def consistency_warnings(
    *,
    product_code: str | None,
    content: ProductContent | None,
    reported_thc: float | None,
    reported_cbd: float | None,
    titration: RecordedDose | None,
    dispensed: RecordedDose | None,
    prescribed_products: Collection[str],
) -> list[FieldError]:
    warnings = []
    if product_code and product_code not in prescribed_products:
        warnings.append(
            FieldError(
                "suspect_product.code", "product_not_prescribed", Text("No prescription of this product is recorded.")
            )
        )
    on_cbd = content is not None and compared_on_cbd(content)
    field = "suspect_product.daily_cbd_mg" if on_cbd else "suspect_product.daily_thc_mg"
    reported = reported_cbd if on_cbd else reported_thc
    if reported is None:
        return warnings
    if titration is not None:
        recorded = titration.daily_cbd_mg if on_cbd else titration.daily_thc_mg
        if _differs(reported, recorded):
            warnings.append(
                FieldError(
                    field,
                    "dose_differs_from_titration",
                    Text(
                        "Reported {reported} mg/day; the latest titration step records {recorded} mg/day.",
                        {"reported": float(reported), "recorded": float(recorded)},
                    ),
                )
            )
    if dispensed is not None:
        supplied = dispensed.daily_cbd_mg if on_cbd else dispensed.daily_thc_mg
        if reported > supplied * (1 + DOSE_TOLERANCE):
            warnings.append(
                FieldError(
                    field,
                    "dose_above_dispensed",
                    Text(
                        "Reported {reported} mg/day; the latest dispensation supplies about {supplied} mg/day.",
                        {"reported": float(reported), "supplied": round(supplied, 1)},
                    ),
                )
            )
    return warnings
