"""The words pages show for the service's codes and values, in the reader's language (SPEC §15): a code of the
reference data is never shown raw — reactions and indications by their labels of ``schemas/reference``,
products with their form and ratio in words, anomaly kinds by a name — and numbers, days and instants are
written as the language writes them.

Fixed words live in the gettext catalogs (``N_`` marks them for extraction); reference labels come with the
reference data in both languages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_scientific
from litestar.di import NamedDependency, Provide

from pv_service.di import Context
from pv_service.handlers.pages.web import SignedIn, signed_in
from pv_service.i18n import catalog, translate
from pv_service.reference import ReferenceData
from pv_service.rules.text import Text
from pv_service.users.schemas import Role


def N_(message: str) -> str:
    """Marks ``message`` for the catalogs; it is translated where it is shown (``Labels.say``)."""
    return message


RATIO_CLASSES = {
    "thc_dominant": N_("THC-dominant"),
    "balanced": N_("balanced THC/CBD"),
    "cbd_dominant": N_("CBD-dominant"),
}
PRODUCT_FORMS = {"oil": N_("oil"), "flower": N_("dried flower")}
ANOMALY_KINDS = {
    "secure_supply_over_28_days": N_("Secure prescription supplied beyond 28 days"),
    "supply_outside_prescription": N_("Supply outside the prescription's period"),
    "quantity_above_prescribed": N_("Quantity above the prescribed dose"),
    "early_refill": N_("Early refill"),
    "reported_dose_mismatch": N_("Reported dose differs from the dispensed dose"),
    "late_presentation": N_("Secure prescription presented late"),
    "overlapping_prescriptions": N_("Overlapping secure prescriptions"),
    "multiple_pharmacies": N_("Overlapping supplies from several pharmacies"),
    "titration_start_too_high": N_("Titration started too high"),
    "titration_increment_too_large": N_("Titration increase too large"),
    "titration_increase_too_soon": N_("Titration increase too soon"),
    "titration_above_max_dose": N_("Dose above the protocol's maximum"),
    "temporal_association": N_("Reaction soon after a dose increase"),
    "positive_dechallenge": N_("Reaction abated after a dose reduction (positive dechallenge)"),
    "positive_rechallenge": N_("Reaction came back after a re-increase (positive rechallenge)"),
    "consultation_missed": N_("Complex consultation missed"),
    "follow_up_overdue": N_("Follow-up request unanswered"),
    "triage_overdue": N_("Case overdue"),
}
# The anomaly kinds as the filter groups them.
KIND_GROUPS = (
    (
        N_("Prescriptions and dispensations"),
        (
            "secure_supply_over_28_days", "supply_outside_prescription", "quantity_above_prescribed", "early_refill",
            "reported_dose_mismatch", "late_presentation", "overlapping_prescriptions", "multiple_pharmacies",
        ),
    ),
    (
        N_("Titration and reactions"),
        (
            "titration_start_too_high", "titration_increment_too_large", "titration_increase_too_soon",
            "titration_above_max_dose", "temporal_association", "positive_dechallenge", "positive_rechallenge",
        ),
    ),
    (N_("Follow-up"), ("consultation_missed", "follow_up_overdue", "triage_overdue")),
)  # fmt: skip
MISSING = "–"


@dataclass(frozen=True, slots=True)
class Labels:
    """Words for one reader: the reference data, their language and their time zone."""

    reference: ReferenceData
    lang: str
    zone: ZoneInfo

    def say(self, message: str, **values: object) -> str:
        """``message`` (a catalog id with ``{name}`` fields) in the reader's language, with ``values`` put in."""
        translated = catalog(self.lang).gettext(message)
        return translated.format(**values) if values else translated

    def message(self, text: Text | str) -> str:
        """A service's message (a rule's ``Text``, a problem's detail) in the reader's language."""
        return translate(text, self.lang)

    def reaction(self, code: str | None) -> str:
        term = self.reference.reactions.get(code or "")
        if term is None:
            return code or MISSING
        return term.fr if self.lang == "fr" else term.en

    def indication(self, code: str) -> str:
        indication = self.reference.indications.get(code)
        if indication is None:
            return code
        return indication.fr if self.lang == "fr" else indication.en

    def ratio(self, code: str) -> str:
        return self.say(RATIO_CLASSES[code]) if code in RATIO_CLASSES else code

    def product(self, code: str) -> str:
        """The catalogue's code (the product's name here, as reporters write it) with its form and ratio."""
        product = self.reference.products.get(code)
        if product is None:
            return code
        return f"{code} ({self.say(PRODUCT_FORMS[product.form])}, {self.ratio(product.ratio)})"

    def group(self, level: str, code: str) -> str:
        """A digest pair's ``product``: a product, or a ratio class at ratio level."""
        return self.ratio(code) if level == "ratio" else self.product(code)

    def kind(self, kind: str) -> str:
        return self.say(ANOMALY_KINDS[kind]) if kind in ANOMALY_KINDS else kind

    def number(self, value: float | None, digits: int = 2) -> str:
        if value is None:
            return MISSING
        return format_decimal(value, format=("#,##0." + "0" * digits) if digits else "#,##0", locale=self.lang)

    def amount(self, value: float | None) -> str:
        """A measured quantity: as many decimals as it has, at most three."""
        if value is None:
            return MISSING
        return format_decimal(value, format="#,##0.###", locale=self.lang)

    def p_value(self, value: float | None) -> str:
        if value is None:
            return MISSING
        if value < 0.001:
            return format_scientific(value, format="0.0E0", locale=self.lang)
        return format_decimal(value, format="0.000", locale=self.lang)

    def day(self, value: date | str | None) -> str:
        if value is None or value == "":
            return MISSING
        day = date.fromisoformat(value) if isinstance(value, str) else value
        return format_date(day, format="long", locale=self.lang)

    def moment(self, value: datetime | str | None) -> str:
        if value is None or value == "":
            return MISSING
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(moment.astimezone(self.zone), format="d MMM y, HH:mm", locale=self.lang)


def labels_for(viewer: SignedIn, context: Context) -> Labels:
    """The ``labels`` dependency of a page controller: words in the viewer's language and time zone."""
    return Labels(reference=context.reference, lang=viewer.lang, zone=context.settings.zone)


# The annotation of a handler's ``labels`` parameter (provided with ``Provide(labels_for)``).
Worded = NamedDependency[Labels]


def worded_pages(*roles: Role) -> dict[str, Provide]:
    """The dependencies of a page controller for ``roles`` whose handlers take ``viewer`` and ``labels``."""
    return {"viewer": Provide(signed_in(*roles)), "labels": Provide(labels_for, sync_to_thread=False)}
