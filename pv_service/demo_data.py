"""A synthetic registry for the demo service and the benchmarks.

The records are the NDJSON import lines of SPEC §12, built to respect every rule the importer enforces
(inclusion window, secure prescriptions, dispensations inside their prescription, weaning only after a
withdrawal), while a few patients deliberately break the titration protocol or refill early so that the
cross-check jobs have something to find. The catalogue and the protocol figures come from the loaded
reference data, the inclusion window from the settings. Everything random comes from one
``random.Random(seed)``: the same seed, day, reference data and settings give the same file.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from pv_service.config import Settings
from pv_service.reference import Product, ReferenceData
from pv_service.rules.crosschecks import TitrationProtocol
from pv_service.rules.follow_up import COMPLEX_CONSULTATION_MONTHS
from pv_service.rules.registry import SECURE_MAX_DAYS, requires_secure_prescription
from pv_service.rules.rpps import luhn_check_digit

Record = dict[str, object]
_T = TypeVar("_T")

# Keeps CBD-rich products at plausible daily CBD doses (and under the 1,000 mg shape limit).
_MAX_DAILY_CBD_MG = 800.0
# How far above the protocol's limit a planted breach goes (start dose or increment, mg of THC).
_BREACH_EXCESS_MG = (1.0, 1.5, 2.5)

_DAYS_PER_MONTH = 30.44

_PROTOCOL_BREAKERS = 0.05
_WITHDRAWALS = 0.08
_MISSED_COMPLEX = 0.04
_EARLY_REFILLS = 0.01
_OVERSIZED_QUANTITIES = 0.01

_WITHDRAWAL_REASONS = (
    ("insufficient_efficacy", 45),
    ("adverse_effects", 30),
    ("patient_choice", 20),
    ("treatment_no_longer_needed", 5),
)


def _with_luhn_key(payload: str) -> str:
    """Ten digits completed by their Luhn check digit: an RPPS."""
    return payload + luhn_check_digit(payload)


@dataclass(frozen=True, slots=True)
class _Professional:
    rpps: str
    role: str
    name: str
    structure: str
    city: str
    hospital: bool
    weight: int

    def record(self) -> Record:
        return {
            "type": "professional",
            "rpps": self.rpps,
            "role": self.role,
            "name": self.name,
            "structure": self.structure,
        }


def _prescriber(n: int, name: str, structure: str, city: str, weight: int, *, hospital: bool = True) -> _Professional:
    rpps = _with_luhn_key(f"10001{n:05d}")
    return _Professional(rpps, "prescriber", name, structure, city, hospital, weight)


def _pharmacist(n: int, name: str, structure: str, city: str, weight: int, *, hospital: bool = False) -> _Professional:
    rpps = _with_luhn_key(f"10002{n:05d}")
    return _Professional(rpps, "pharmacist", name, structure, city, hospital, weight)


# The first prescriber and the first pharmacist are the demo users: they get the largest share of patients.
_PRESCRIBERS: tuple[_Professional, ...] = (
    _prescriber(1, "Dr C. Moreau", "CHU de Nantes", "Nantes", 30),
    _prescriber(2, "Dr J. Lambert", "CHU de Nantes", "Nantes", 8),
    _prescriber(3, "Dr S. Garnier", "CHU de Lille", "Lille", 8),
    _prescriber(4, "Dr N. Dupont", "CHU de Lille", "Lille", 7),
    _prescriber(5, "Dr I. Fontaine", "AP-HP Hôpital Saint-Antoine", "Paris", 9),
    _prescriber(6, "Dr T. Roux", "AP-HP Hôpital Saint-Antoine", "Paris", 8),
    _prescriber(7, "Dr H. Chevalier", "HCL Lyon", "Lyon", 8),
    _prescriber(8, "Dr M. Girard", "HCL Lyon", "Lyon", 7),
    _prescriber(9, "Dr C. Bonnet", "CHU de Bordeaux", "Bordeaux", 8),
    _prescriber(10, "Dr A. Mercier", "CHU de Bordeaux", "Bordeaux", 7),
    _prescriber(11, "Dr É. Fabre", "Cabinet médical, Rezé", "Nantes", 0, hospital=False),
    _prescriber(12, "Dr L. Perrin", "Cabinet de neurologie, Lyon 6e", "Lyon", 0, hospital=False),
)

_PHARMACISTS: tuple[_Professional, ...] = (
    _pharmacist(1, "Marion Lefèvre", "Pharmacie du Commerce, Nantes", "Nantes", 60),
    _pharmacist(2, "Yann Le Goff", "PUI CHU de Nantes", "Nantes", 15, hospital=True),
    _pharmacist(3, "Anne Guérin", "Pharmacie de la Place Royale, Nantes", "Nantes", 15),
    _pharmacist(4, "Pierre Carpentier", "Pharmacie de Chantenay, Nantes", "Nantes", 10),
    _pharmacist(5, "Lucie Delattre", "PUI CHU de Lille", "Lille", 40, hospital=True),
    _pharmacist(6, "Hugo Vandamme", "Pharmacie Saint-Maurice, Lille", "Lille", 30),
    _pharmacist(7, "Julie Masson", "Pharmacie de Wazemmes, Lille", "Lille", 30),
    _pharmacist(8, "Karim Benali", "PUI Hôpital Saint-Antoine, Paris", "Paris", 40, hospital=True),
    _pharmacist(9, "Sarah Cohen", "Pharmacie de la Bastille, Paris", "Paris", 30),
    _pharmacist(10, "Vincent Marchand", "Pharmacie du Faubourg, Paris", "Paris", 30),
    _pharmacist(11, "Émilie Rousseau", "PUI Hospices Civils de Lyon", "Lyon", 40, hospital=True),
    _pharmacist(12, "Olivier Brun", "Pharmacie des Brotteaux, Lyon", "Lyon", 30),
    _pharmacist(13, "Léa Fournier", "Pharmacie de la Croix-Rousse, Lyon", "Lyon", 30),
    _pharmacist(14, "Bruno Lacoste", "PUI CHU de Bordeaux", "Bordeaux", 50, hospital=True),
    _pharmacist(15, "Chloé Dubois", "Pharmacie des Chartrons, Bordeaux", "Bordeaux", 50),
)

_PV_STAFF_RPPS = _with_luhn_key("1000300001")
_ADMIN_RPPS = _with_luhn_key("1000400001")


def demo_professionals() -> dict[str, str]:
    """RPPS of the fixed demo users by role: prescriber, pharmacist, pv_staff, admin.

    The prescriber and the pharmacist are registry professionals who own many generated patients; the
    other two are not registry professionals and are created as users separately.
    """
    return {
        "prescriber": _PRESCRIBERS[0].rpps,
        "pharmacist": _PHARMACISTS[0].rpps,
        "pv_staff": _PV_STAFF_RPPS,
        "admin": _ADMIN_RPPS,
    }


# --- products -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Product:
    """A catalogue product and what prescribing it allows under the protocol."""

    item: Product
    secure: bool
    # Highest THC dose worth prescribing: the protocol maximum, or less when CBD would be excessive.
    max_daily_thc: float

    @classmethod
    def of(cls, item: Product, protocol: TitrationProtocol) -> _Product:
        ceiling = protocol.max_daily_thc_mg
        if item.cbd > 0:
            ceiling = min(ceiling, _MAX_DAILY_CBD_MG * item.thc / item.cbd)
        return cls(item, requires_secure_prescription(item.thc_percent), ceiling)

    def cbd_for(self, thc_mg: float) -> float:
        return round(thc_mg * self.item.cbd / self.item.thc, 2)

    def quantity(self, daily_thc_mg: float, daily_cbd_mg: float, days: int) -> float:
        """Quantity in the unit of sale (ml of oil, g of flower), floored to 0.1: never above prescribed."""
        item = self.item
        if item.form == "flower":
            amount = daily_thc_mg / (item.thc * 10) * days
        elif item.thc < 1.0:
            amount = daily_cbd_mg / item.cbd * days
        else:
            amount = daily_thc_mg / item.thc * days
        return math.floor(amount * 10 + 1e-6) / 10


def _group_products(reference: ReferenceData) -> dict[tuple[str, str], list[_Product]]:
    """The catalogue grouped by (form, ratio), so the mix survives catalogue additions."""
    groups: dict[tuple[str, str], list[_Product]] = {}
    for item in reference.products.values():
        if item.thc <= 0:
            continue  # THC-free products have no titration to speak of.
        groups.setdefault((item.form, item.ratio), []).append(_Product.of(item, reference.titration_protocol))
    if not any(form == "oil" for form, _ in groups):
        raise ValueError("the reference products list no oil with THC")
    return groups


_PRODUCT_MIX: dict[str, tuple[tuple[tuple[str, str], int], ...]] = {
    "neuropathic_pain": (
        (("oil", "thc_dominant"), 30),
        (("oil", "balanced"), 35),
        (("oil", "cbd_dominant"), 8),
        (("flower", "thc_dominant"), 10),
        (("flower", "balanced"), 12),
        (("flower", "cbd_dominant"), 5),
    ),
    "epilepsy": ((("oil", "cbd_dominant"), 85), (("oil", "balanced"), 15)),
    "oncology": ((("oil", "thc_dominant"), 35), (("oil", "balanced"), 45), (("oil", "cbd_dominant"), 20)),
    "palliative": (
        (("oil", "thc_dominant"), 35),
        (("oil", "balanced"), 35),
        (("oil", "cbd_dominant"), 10),
        (("flower", "thc_dominant"), 10),
        (("flower", "balanced"), 10),
    ),
    "spasticity": (
        (("oil", "balanced"), 40),
        (("oil", "thc_dominant"), 25),
        (("oil", "cbd_dominant"), 10),
        (("flower", "balanced"), 15),
        (("flower", "thc_dominant"), 10),
    ),
}
_INDICATIONS = (
    ("neuropathic_pain", 45),
    ("spasticity", 18),
    ("epilepsy", 17),
    ("oncology", 13),
    ("palliative", 7),
)
# Age range at inclusion for adults, by indication.
_ADULT_AGES = {
    "neuropathic_pain": (25, 82),
    "spasticity": (22, 72),
    "epilepsy": (19, 45),
    "oncology": (30, 85),
    "palliative": (35, 92),
}
_MINOR_SHARE = {"epilepsy": 0.5, "oncology": 0.03, "palliative": 0.02}
_PROTECTED_SHARE = {"epilepsy": 0.15}
# Target daily THC (mg) by ratio class, before the product's own ceiling.
_TARGET_THC = {"thc_dominant": (5.0, 20.0), "balanced": (4.0, 15.0), "cbd_dominant": (2.0, 10.0)}


def _pick(rng: random.Random, weighted: Sequence[tuple[_T, int]]) -> _T:
    return rng.choices([value for value, _ in weighted], weights=[weight for _, weight in weighted])[0]


def _floor_to(value: float, step: float) -> float:
    return round(math.floor(value / step + 1e-9) * step, 2)


# --- one patient --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Ids:
    """Running numbers of prescriptions and dispensations, unique across the file."""

    prescription: int = 0
    dispensation: int = 0

    def next_prescription(self) -> str:
        self.prescription += 1
        return f"RX-{self.prescription}"

    def next_dispensation(self) -> str:
        self.dispensation += 1
        return f"DS-{self.dispensation}"


@dataclass(frozen=True, slots=True)
class _Context:
    rng: random.Random
    today: date
    products: dict[tuple[str, str], list[_Product]]
    protocol: TitrationProtocol
    ids: _Ids
    # ISO strings by day ordinal: the same few thousand days recur in every history.
    iso_days: dict[int, str]

    def iso(self, ordinal: int) -> str:
        text = self.iso_days.get(ordinal)
        if text is None:
            text = self.iso_days[ordinal] = date.fromordinal(ordinal).isoformat()
        return text


def _choose_product(
    rng: random.Random, products: dict[tuple[str, str], list[_Product]], indication: str, minor: bool
) -> _Product:
    mix = [
        (kind, weight)
        for kind, weight in _PRODUCT_MIX[indication]
        if kind in products and not (minor and kind[0] == "flower")
    ]
    if not mix:
        mix = [(kind, 1) for kind in products if kind[0] == "oil"]
    return rng.choice(products[_pick(rng, mix)])


def _titration(
    rng: random.Random, product: _Product, protocol: TitrationProtocol, breaks_protocol: bool
) -> tuple[list[tuple[int, float]], float]:
    """Titration steps as (day after inclusion, daily THC mg), and the dose granularity used."""
    ceiling = product.max_daily_thc
    step = 0.5 if ceiling >= 5 else 0.1
    low, high = _TARGET_THC[product.item.ratio]
    target = rng.uniform(low, high)
    if target > ceiling:
        target = ceiling * rng.uniform(0.5, 1.0)
    target = max(step, _floor_to(target, step))
    start = min(protocol.max_start_daily_thc_mg, target, max(step, _floor_to(target * rng.uniform(0.15, 0.35), step)))

    breach = None
    if breaks_protocol:
        breaches = ["increase_too_soon"]
        if ceiling >= 10:  # room for a large jump without an absurd CBD dose
            breaches += ["increment_too_large", "start_too_high"]
        breach = rng.choice(breaches)
        if breach == "start_too_high":
            start = protocol.max_start_daily_thc_mg + rng.choice(_BREACH_EXCESS_MG)
        target = min(_floor_to(ceiling, step), max(target, start + 2 * step))

    steps = [(0, start)]
    day, dose, first_increase = 0, start, True
    while dose < target - 1e-9:
        gap = rng.randint(protocol.min_days_between_increases, max(7, protocol.min_days_between_increases))
        if breach == "increase_too_soon" and first_increase:
            gap = rng.randint(1, protocol.min_days_between_increases - 1)
        if day + gap >= protocol.titration_days:
            break
        day += gap
        increment = min(
            protocol.max_daily_thc_increment_mg, max(step, _floor_to(target * rng.uniform(0.15, 0.4), step))
        )
        if breach == "increment_too_large" and first_increase:
            dose = round(dose + protocol.max_daily_thc_increment_mg + rng.choice(_BREACH_EXCESS_MG), 2)
            target = max(target, dose)
        else:
            dose = min(target, round(dose + increment, 2))
        first_increase = False
        steps.append((day, dose))
    return steps, step


def _adjusted(rng: random.Random, dose: float, step: float, ceiling: float, max_increment: float) -> float:
    """A follow-up dose change after titration: up or down by at most the protocol increment."""
    delta = min(max_increment, max(step, _floor_to(dose * rng.uniform(0.1, 0.3), step)))
    new = dose + delta if rng.random() < 0.6 else dose - delta
    return round(min(_floor_to(ceiling, step), max(step, new)), 2)


def _weaning(rng: random.Random, from_dose: float, first_day: int) -> list[tuple[int, float]]:
    """Decreasing steps from the withdrawal date: each strictly below the one before."""
    steps: list[tuple[int, float]] = []
    day, dose = first_day, from_dose
    for _ in range(rng.randint(2, 4)):
        new = round(dose * rng.uniform(0.5, 0.75), 1)
        if new >= dose:
            new = round(dose - 0.1, 1)
        if new <= 0:
            break
        steps.append((day, new))
        dose = new
        day += rng.randint(5, 7)
    return steps


class _Schedule:
    """Daily THC dose in force on any day, from sorted titration steps."""

    def __init__(self, steps: list[tuple[int, float]]) -> None:
        self.days = [day for day, _ in steps]
        self.doses = [dose for _, dose in steps]

    def highest(self, first: int, last: int) -> float:
        """The highest dose in force during [first, last]: what a prescription of that period allows."""
        begin = max(0, bisect.bisect_right(self.days, first) - 1)
        end = bisect.bisect_right(self.days, last)
        return max(self.doses[begin:end])

    def at(self, day: int) -> float:
        return self.doses[max(0, bisect.bisect_right(self.days, day) - 1)]


def _dispensation_plan(rng: random.Random, start: int, days: int, secure: bool) -> list[tuple[int, int, bool]]:
    """(day, days of supply, oversized) of the dispensations of one prescription, each inside it."""
    if days == SECURE_MAX_DAYS and rng.random() < _EARLY_REFILLS:
        # Early refill: the second dispensation comes well before the first one's supply runs out.
        second = start + rng.randint(5, 8)
        return [(start, 14, False), (second, start + days - second, False)]
    if days == SECURE_MAX_DAYS and secure and rng.random() < 0.25:
        chunks = [(start, 14), (start + 14, 14)]
    else:
        ends = start + days
        chunks = [(begin, min(28, ends - begin)) for begin in range(start, ends, 28)]
    plan = []
    for begin, length in chunks:
        delay = rng.randint(1, 2) if length > 7 and rng.random() < 0.3 else 0
        plan.append((begin + delay, length - delay, rng.random() < _OVERSIZED_QUANTITIES))
    return plan


def _patient(ctx: _Context, number: int, window: tuple[date, int]) -> tuple[Record, list[Record]]:
    rng = ctx.rng
    registry_id = f"RC-{number:06d}"
    first_inclusion, window_days = window
    inclusion = first_inclusion + timedelta(days=rng.randrange(window_days))

    indication = _pick(rng, _INDICATIONS)
    minor = rng.random() < _MINOR_SHARE.get(indication, 0.0)
    if minor:
        age = rng.randint(2, 17)
        legal_status = "minor"
    else:
        age = rng.randint(*_ADULT_AGES[indication])
        legal_status = "protected_adult" if rng.random() < _PROTECTED_SHARE.get(indication, 0.02) else "adult"
    female_share = 0.68 if indication == "spasticity" else 0.55
    draw = rng.random()
    sex = "U" if draw < 0.02 else "F" if draw < 0.02 + female_share * 0.98 else "M"

    reference = _pick(rng, [(p, p.weight) for p in _PRESCRIBERS if p.hospital])
    city_doctor: _Professional | None = None
    if rng.random() < 0.3:
        local = [p for p in _PRESCRIBERS if p.city == reference.city and p is not reference]
        city_doctor = rng.choice(local or [p for p in _PRESCRIBERS if p is not reference])
    local_pharmacists = [(p, p.weight) for p in _PHARMACISTS if p.city == reference.city] or [
        (p, p.weight) for p in _PHARMACISTS
    ]
    usual_pharmacist = _pick(rng, local_pharmacists)
    named_pharmacist = usual_pharmacist if rng.random() < 0.7 else None

    patient: Record = {
        "type": "patient",
        "registry_id": registry_id,
        "birth_year": inclusion.year - age,
        "sex": sex,
        "indication": indication,
        "inclusion_date": inclusion.isoformat(),
        "reference_prescriber": reference.rpps,
        "reference_structure": reference.structure,
        "city_doctor": city_doctor.rpps if city_doctor else None,
        "pharmacist": named_pharmacist.rpps if named_pharmacist else None,
        "registry_consent": True,
        "nir_consent": rng.random() < 0.6,
        "legal_status": legal_status,
    }

    product = _choose_product(rng, ctx.products, indication, minor)
    secure = product.secure
    today_day = (ctx.today - inclusion).days
    months = 30 if rng.random() < 0.4 else rng.randint(6, 29)
    end_day = min(today_day, round(months * _DAYS_PER_MONTH))
    withdrawal_day: int | None = None
    if rng.random() < _WITHDRAWALS and end_day >= 75:
        withdrawal_day = rng.randint(45, end_day)
    regular_end = end_day if withdrawal_day is None else withdrawal_day - 1

    base = inclusion.toordinal()

    def day_iso(day: int) -> str:
        return ctx.iso(base + day)

    history: list[Record] = []
    if withdrawal_day is not None:
        history.append(
            {
                "type": "withdrawal",
                "registry_id": registry_id,
                "date": day_iso(withdrawal_day),
                "reason": _pick(rng, _WITHDRAWAL_REASONS),
            }
        )
    steps, step = _titration(rng, product, ctx.protocol, rng.random() < _PROTOCOL_BREAKERS)
    steps = [(day, dose) for day, dose in steps if day <= regular_end]
    step_days = {day for day, _ in steps}

    consultations: list[tuple[int, str, int | None]] = []
    taken: set[tuple[int, str]] = set()
    previous_month_day = 0
    for month in COMPLEX_CONSULTATION_MONTHS:
        month_day = round(month * _DAYS_PER_MONTH)
        if rng.random() < 0.45:
            simple_day = (previous_month_day + month_day) // 2 + rng.randint(-5, 5)
            if 0 < simple_day <= regular_end and (simple_day, "simple") not in taken:
                taken.add((simple_day, "simple"))
                consultations.append((simple_day, "simple", None))
        previous_month_day = month_day
        day = month_day + rng.randint(-3, 3)
        if day > regular_end:
            break
        if rng.random() < _MISSED_COMPLEX:
            continue
        taken.add((day, "complex"))
        consultations.append((day, "complex", month))
        if month >= 3 and rng.random() < 0.2 and day not in step_days:
            dose = _adjusted(rng, steps[-1][1], step, product.max_daily_thc, ctx.protocol.max_daily_thc_increment_mg)
            if dose != steps[-1][1]:
                steps.append((day, dose))
                step_days.add(day)

    weaning: list[tuple[int, float]] = []
    if withdrawal_day is not None:
        weaning = _weaning(rng, steps[-1][1], withdrawal_day)
    schedule = _Schedule(steps)

    for day, dose in [*steps, *((day, dose) for day, dose in weaning if day <= today_day)]:
        history.append(
            {
                "type": "titration_step",
                "registry_id": registry_id,
                "date": day_iso(day),
                "daily_thc_mg": dose,
                "daily_cbd_mg": product.cbd_for(dose),
            }
        )

    def prescribe(
        start: int, days: int, thc: float, prescriber: _Professional, weaning_flag: bool, last_day: int
    ) -> None:
        prescription_id = ctx.ids.next_prescription()
        cbd = product.cbd_for(thc)
        prescription: Record = {
            "type": "prescription",
            "id": prescription_id,
            "registry_id": registry_id,
            "prescriber": prescriber.rpps,
            "product": product.item.code,
            "daily_thc_mg": thc,
            "daily_cbd_mg": cbd,
            "start_date": day_iso(start),
            "days": days,
            "secure": secure,
        }
        if weaning_flag:
            prescription["weaning"] = True
        history.append(prescription)
        for day, supply, oversized in _dispensation_plan(rng, start, days, secure):
            if day > last_day:
                break
            quantity = product.quantity(thc, cbd, supply)
            if oversized:
                quantity = round(quantity * 1.3, 1)
            if quantity <= 0:
                continue
            dispensation: Record = {
                "type": "dispensation",
                "id": ctx.ids.next_dispensation(),
                "prescription_id": prescription_id,
                "pharmacist": usual_pharmacist.rpps,
                "date": day_iso(day),
                "quantity": quantity,
                "days_supply": supply,
            }
            if weaning_flag:
                dispensation["weaning"] = True
            history.append(dispensation)

    start = 0
    while start <= regular_end:
        if secure:
            days = 14 if start == 0 and rng.random() < 0.25 else SECURE_MAX_DAYS
        else:
            days = SECURE_MAX_DAYS if start < ctx.protocol.titration_days else rng.choice([28, 56, 84])
        if withdrawal_day is not None:
            days = min(days, withdrawal_day - start)
        prescriber = city_doctor if city_doctor and start >= 90 and rng.random() < 0.5 else reference
        prescribe(start, days, schedule.highest(start, start + days - 1), prescriber, False, regular_end)
        start += days

    if withdrawal_day is not None and weaning:
        days = min(SECURE_MAX_DAYS, weaning[-1][0] - withdrawal_day + 7)
        prescribe(withdrawal_day, days, weaning[0][1], reference, True, today_day)

    for day, kind, month in consultations:
        consultation: Record = {"type": "consultation", "registry_id": registry_id, "date": day_iso(day), "kind": kind}
        if month is not None:
            consultation["month"] = month
        history.append(consultation)

    # Stable sort: on one day the withdrawal comes first, then steps, prescriptions and dispensations.
    history.sort(key=_when)
    return patient, history


def _when(record: Record) -> str:
    return str(record.get("date") or record["start_date"])


# --- the registry -------------------------------------------------------------------------------


def generate_registry(
    *, patients: int = 300, seed: int = 7, today: date, reference: ReferenceData, settings: Settings
) -> list[dict[str, object]]:
    """Records for a demo registry: professionals first, then each patient's history.

    Products and titration follow ``reference`` (its products and titration protocol); inclusions fall in
    ``settings``' window, from ``experimentation_start`` to the day before ``inclusion_cutoff``, and no
    later than ``today``.
    """
    if patients < 0:
        raise ValueError("patients must be zero or more")
    first_inclusion = settings.experimentation_start
    last_inclusion = min(today, settings.inclusion_cutoff - timedelta(days=1))
    if last_inclusion < first_inclusion:
        raise ValueError(f"today ({today}) is before the experimentation started ({first_inclusion})")
    window = (first_inclusion, (last_inclusion - first_inclusion).days + 1)
    ctx = _Context(random.Random(seed), today, _group_products(reference), reference.titration_protocol, _Ids(), {})

    records: list[Record] = [p.record() for p in (*_PRESCRIBERS, *_PHARMACISTS)]
    histories: list[Record] = []
    for number in range(1, patients + 1):
        patient, history = _patient(ctx, number, window)
        records.append(patient)
        histories.extend(history)
    records.extend(histories)
    return records
