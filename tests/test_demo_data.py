"""The demo registry must import cleanly: every rule of the registry holds, save the planted oddities."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from functools import partial
from itertools import pairwise

import msgspec
import pytest

from pv_service.config import Settings
from pv_service.demo_data import demo_professionals, generate_registry
from pv_service.reference import load_reference
from pv_service.registry.schemas import ImportRecord

TODAY = date(2025, 6, 30)
EARLY_TODAY = date(2023, 1, 15)
START = date(2021, 3, 26)
CUTOFF = date(2024, 3, 27)
Record = dict[str, object]


def luhn_valid(number: str) -> bool:
    """Independent Luhn check over the whole number, as for card numbers."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def day(value: object) -> date:
    return date.fromisoformat(str(value))


REFERENCE = load_reference(None)
SETTINGS = Settings()


# The shipped reference data and the default settings, unless a test passes others.
generate = partial(generate_registry, reference=REFERENCE, settings=SETTINGS)


@pytest.fixture(scope="module")
def registry() -> list[Record]:
    return generate(today=TODAY)


@pytest.fixture(scope="module")
def early_registry() -> list[Record]:
    return generate(patients=200, seed=11, today=EARLY_TODAY)


@pytest.fixture(scope="module")
def products() -> dict[str, dict[str, object]]:
    return msgspec.to_builtins(REFERENCE.products)


def of_type(records: list[Record], kind: str) -> list[Record]:
    return [record for record in records if record["type"] == kind]


def by_patient(records: list[Record], kind: str) -> dict[str, list[Record]]:
    grouped: dict[str, list[Record]] = defaultdict(list)
    for record in of_type(records, kind):
        grouped[str(record["registry_id"])].append(record)
    return grouped


def patient_products(records: list[Record]) -> dict[str, str]:
    return {str(rx["registry_id"]): str(rx["product"]) for rx in of_type(records, "prescription")}


def test_the_luhn_helper_of_this_test_is_itself_right() -> None:
    assert luhn_valid("10000000009") and luhn_valid("10000000017")  # the SPEC §12 examples
    assert not luhn_valid("10000000008") and not luhn_valid("10000000019")


def test_every_rpps_has_a_valid_luhn_key(registry: list[Record]) -> None:
    numbers = set(demo_professionals().values())
    for record in registry:
        for field in ("rpps", "reference_prescriber", "city_doctor", "pharmacist", "prescriber"):
            if record.get(field) is not None:
                numbers.add(str(record[field]))
    assert len(numbers) > 20
    for number in numbers:
        assert re.fullmatch(r"[0-9]{11}", number), number
        assert luhn_valid(number), number


def test_professionals_are_distinct_prescribers_and_pharmacists(registry: list[Record]) -> None:
    professionals = of_type(registry, "professional")
    rpps = [p["rpps"] for p in professionals]
    assert len(rpps) == len(set(rpps))
    roles = Counter(p["role"] for p in professionals)
    assert set(roles) == {"prescriber", "pharmacist"}
    assert 10 <= roles["prescriber"] <= 15 and 12 <= roles["pharmacist"] <= 18
    structures = {p["structure"] for p in professionals if p["role"] == "prescriber"}
    assert {"CHU de Nantes", "CHU de Lille", "HCL Lyon"} <= structures
    assert all(str(p["name"]).strip() for p in professionals)


def test_demo_users_own_patients(registry: list[Record]) -> None:
    demo = demo_professionals()
    assert set(demo) == {"prescriber", "pharmacist", "pv_staff", "admin"}
    assert len(set(demo.values())) == 4
    roles = {p["rpps"]: p["role"] for p in of_type(registry, "professional")}
    assert roles.get(demo["prescriber"]) == "prescriber"
    assert roles.get(demo["pharmacist"]) == "pharmacist"
    assert demo["pv_staff"] not in roles and demo["admin"] not in roles
    patients = of_type(registry, "patient")
    owned = sum(p["reference_prescriber"] == demo["prescriber"] for p in patients)
    named = sum(p["pharmacist"] == demo["pharmacist"] for p in patients)
    assert owned >= 0.15 * len(patients)
    assert named >= 0.08 * len(patients)
    assert any(d["pharmacist"] == demo["pharmacist"] for d in of_type(registry, "dispensation"))


def test_demo_users_do_not_depend_on_the_seed() -> None:
    assert demo_professionals() == demo_professionals()
    other = generate(patients=20, seed=99, today=TODAY)
    rpps = {p["rpps"] for p in of_type(other, "professional")}
    assert demo_professionals()["prescriber"] in rpps and demo_professionals()["pharmacist"] in rpps


def test_records_match_the_import_format_in_readable_order(registry: list[Record]) -> None:
    decoder = msgspec.json.Decoder(ImportRecord)
    for record in registry:
        assert next(iter(record)) == "type"
        decoder.decode(json.dumps(record))
    kinds = [record["type"] for record in registry]
    last_professional = max(i for i, kind in enumerate(kinds) if kind == "professional")
    first_patient = kinds.index("patient")
    last_patient = max(i for i, kind in enumerate(kinds) if kind == "patient")
    first_other = min(i for i, kind in enumerate(kinds) if kind not in {"professional", "patient"})
    assert last_professional < first_patient and last_patient < first_other
    assert set(kinds) == {
        "professional",
        "patient",
        "prescription",
        "dispensation",
        "titration_step",
        "consultation",
        "withdrawal",
    }


def test_inclusion_dates_fall_inside_the_experimentation_window(
    registry: list[Record], early_registry: list[Record]
) -> None:
    dates = [day(p["inclusion_date"]) for p in of_type(registry, "patient")]
    assert len(dates) == 300
    assert all(START <= d < CUTOFF for d in dates)
    assert {d.year for d in dates} >= {2021, 2022, 2023}
    early = [day(p["inclusion_date"]) for p in of_type(early_registry, "patient")]
    assert all(START <= d <= EARLY_TODAY for d in early)


def test_patients_are_a_plausible_mix(registry: list[Record], products: dict[str, dict[str, object]]) -> None:
    patients = of_type(registry, "patient")
    assert Counter(p["indication"] for p in patients).keys() == {
        "neuropathic_pain",
        "epilepsy",
        "oncology",
        "palliative",
        "spasticity",
    }
    assert Counter(p["sex"] for p in patients).keys() <= {"F", "M", "U"}
    assert all(p["registry_consent"] is True for p in patients)
    assert {p["nir_consent"] for p in patients} == {True, False}
    statuses = Counter(p["legal_status"] for p in patients)
    assert statuses["minor"] > 0 and statuses["protected_adult"] > 0
    for patient in patients:
        age = day(patient["inclusion_date"]).year - int(patient["birth_year"])
        if patient["legal_status"] == "minor":
            assert age <= 17 and patient["indication"] in {"epilepsy", "oncology", "palliative"}
        else:
            assert age >= 18
    product_of = patient_products(registry)
    epileptic = [product_of[str(p["registry_id"])] for p in patients if p["indication"] == "epilepsy"]
    cbd_dominant = sum(products[code]["ratio"] == "cbd_dominant" for code in epileptic)
    assert cbd_dominant > 0.6 * len(epileptic)
    forms = Counter(products[code]["form"] for code in product_of.values())
    assert forms["oil"] > 0.6 * sum(forms.values()) and forms["flower"] > 0
    minors = {p["registry_id"] for p in patients if p["legal_status"] == "minor"}
    assert all(products[product_of[str(rid)]]["form"] == "oil" for rid in minors)


def test_references_point_to_the_right_professionals(registry: list[Record]) -> None:
    roles = {p["rpps"]: p["role"] for p in of_type(registry, "professional")}
    patients = {p["registry_id"]: p for p in of_type(registry, "patient")}
    for patient in patients.values():
        assert roles[patient["reference_prescriber"]] == "prescriber"
        if patient["city_doctor"] is not None:
            assert roles[patient["city_doctor"]] == "prescriber"
            assert patient["city_doctor"] != patient["reference_prescriber"]
        if patient["pharmacist"] is not None:
            assert roles[patient["pharmacist"]] == "pharmacist"
    assert any(p["city_doctor"] is None for p in patients.values())
    assert any(p["city_doctor"] is not None for p in patients.values())
    assert any(p["pharmacist"] is None for p in patients.values())
    prescriptions = {rx["id"]: rx for rx in of_type(registry, "prescription")}
    for rx in prescriptions.values():
        patient = patients[rx["registry_id"]]
        assert rx["prescriber"] in {patient["reference_prescriber"], patient["city_doctor"]}
    for dispensation in of_type(registry, "dispensation"):
        patient = patients[prescriptions[dispensation["prescription_id"]]["registry_id"]]
        assert roles[dispensation["pharmacist"]] == "pharmacist"
        if patient["pharmacist"] is not None:
            assert dispensation["pharmacist"] == patient["pharmacist"]


def test_ids_are_unique(registry: list[Record]) -> None:
    patients = [p["registry_id"] for p in of_type(registry, "patient")]
    assert len(patients) == len(set(patients))
    assert all(re.fullmatch(r"RC-[0-9]{6}", str(rid)) for rid in patients)
    prescriptions = [rx["id"] for rx in of_type(registry, "prescription")]
    assert len(prescriptions) == len(set(prescriptions))
    assert all(re.fullmatch(r"RX-[0-9]+", str(rid)) for rid in prescriptions)
    dispensations = [d["id"] for d in of_type(registry, "dispensation")]
    assert len(dispensations) == len(set(dispensations))
    assert all(re.fullmatch(r"DS-[0-9]+", str(rid)) for rid in dispensations)
    steps = [(s["registry_id"], s["date"]) for s in of_type(registry, "titration_step")]
    assert len(steps) == len(set(steps))
    visits = [(c["registry_id"], c["date"], c["kind"]) for c in of_type(registry, "consultation")]
    assert len(visits) == len(set(visits))
    withdrawn = [w["registry_id"] for w in of_type(registry, "withdrawal")]
    assert len(withdrawn) == len(set(withdrawn))
    known = set(patients)
    for record in registry:
        if "registry_id" in record:
            assert record["registry_id"] in known


def test_secure_prescriptions_cover_at_most_28_days(
    registry: list[Record], products: dict[str, dict[str, object]]
) -> None:
    longer_simple = 0
    for rx in of_type(registry, "prescription"):
        secure = float(products[str(rx["product"])]["thc_percent"]) > 0.3
        assert rx.get("secure", secure) is secure
        assert 1 <= int(rx["days"]) <= 366
        if secure:
            assert int(rx["days"]) <= 28, rx
        elif int(rx["days"]) > 28:
            longer_simple += 1
    assert longer_simple > 0


def test_prescriptions_cover_the_treatment_period_without_gaps(registry: list[Record]) -> None:
    inclusion = {p["registry_id"]: day(p["inclusion_date"]) for p in of_type(registry, "patient")}
    for registry_id, prescriptions in by_patient(registry, "prescription").items():
        regular = sorted((rx for rx in prescriptions if not rx.get("weaning")), key=lambda rx: str(rx["start_date"]))
        assert day(regular[0]["start_date"]) == inclusion[registry_id]
        for previous, following in pairwise(regular):
            previous_end = day(previous["start_date"]) + timedelta(days=int(previous["days"]))
            assert day(following["start_date"]) == previous_end
    assert set(by_patient(registry, "prescription")) == set(inclusion)


def test_prescribed_doses_follow_the_titration(registry: list[Record]) -> None:
    steps = by_patient(registry, "titration_step")
    for rx in of_type(registry, "prescription"):
        start = day(rx["start_date"])
        end = start + timedelta(days=int(rx["days"]) - 1)
        doses = [
            float(s["daily_thc_mg"])
            for s in steps[str(rx["registry_id"])]
            if start <= day(s["date"]) <= end or day(s["date"]) <= start
        ]
        assert float(rx["daily_thc_mg"]) in doses


def test_dispensations_lie_inside_their_prescription(registry: list[Record]) -> None:
    prescriptions = {rx["id"]: rx for rx in of_type(registry, "prescription")}
    dispensations = of_type(registry, "dispensation")
    assert len(dispensations) >= len(prescriptions) * 0.9
    for dispensation in dispensations:
        rx = prescriptions[dispensation["prescription_id"]]
        rx_first = day(rx["start_date"])
        rx_last = rx_first + timedelta(days=int(rx["days"]) - 1)
        first = day(dispensation["date"])
        last = first + timedelta(days=int(dispensation["days_supply"]) - 1)
        assert rx_first <= first <= last <= rx_last, (dispensation, rx)
        assert float(dispensation["quantity"]) > 0
        assert bool(dispensation.get("weaning")) == bool(rx.get("weaning"))


def test_dispensed_quantities_match_the_prescribed_dose_with_a_few_oddities(
    registry: list[Record], products: dict[str, dict[str, object]]
) -> None:
    prescriptions = {rx["id"]: rx for rx in of_type(registry, "prescription")}
    ratios = []
    for dispensation in of_type(registry, "dispensation"):
        rx = prescriptions[dispensation["prescription_id"]]
        product = products[str(rx["product"])]
        days = int(dispensation["days_supply"])
        if product["form"] == "flower":
            expected = float(rx["daily_thc_mg"]) / (float(product["thc"]) * 10) * days
        elif float(product["thc"]) < 1:
            expected = float(rx["daily_cbd_mg"]) / float(product["cbd"]) * days
        else:
            expected = float(rx["daily_thc_mg"]) / float(product["thc"]) * days
        ratios.append(float(dispensation["quantity"]) / expected)
        assert round(float(dispensation["quantity"]), 1) == dispensation["quantity"]
    close = sum(0.8 <= r <= 1.05 for r in ratios)
    oversized = sum(r >= 1.2 for r in ratios)
    assert close >= 0.95 * len(ratios)
    assert 0 < oversized <= 0.05 * len(ratios)


def test_a_few_dispensations_are_early_refills(registry: list[Record]) -> None:
    by_prescription: dict[str, list[Record]] = defaultdict(list)
    for dispensation in of_type(registry, "dispensation"):
        by_prescription[str(dispensation["prescription_id"])].append(dispensation)
    early = 0
    for dispensations in by_prescription.values():
        dispensations.sort(key=lambda d: str(d["date"]))
        for previous, following in pairwise(dispensations):
            due = day(previous["date"]) + timedelta(days=int(previous["days_supply"]) * 0.8)
            early += day(following["date"]) < due
    total = len(of_type(registry, "dispensation"))
    assert 0 < early <= 0.05 * total


def test_titration_starts_at_or_below_the_protocol_start_dose_for_most_patients(
    registry: list[Record],
) -> None:
    inclusion = {p["registry_id"]: str(p["inclusion_date"]) for p in of_type(registry, "patient")}
    starts = []
    for registry_id, steps in by_patient(registry, "titration_step").items():
        first = min(steps, key=lambda s: str(s["date"]))
        assert first["date"] == inclusion[registry_id]
        starts.append(float(first["daily_thc_mg"]))
    assert len(starts) == len(inclusion)
    assert sum(s <= 2.5 for s in starts) >= 0.95 * len(starts)
    assert all(s > 0 for s in starts)


def test_a_few_patients_break_the_titration_protocol_and_none_exceeds_the_maximum(
    registry: list[Record],
) -> None:
    inclusion = {p["registry_id"]: day(p["inclusion_date"]) for p in of_type(registry, "patient")}
    withdrawal = {w["registry_id"]: day(w["date"]) for w in of_type(registry, "withdrawal")}
    breakers = 0
    for registry_id, steps in by_patient(registry, "titration_step").items():
        steps.sort(key=lambda s: str(s["date"]))
        assert all(float(s["daily_thc_mg"]) <= 40 for s in steps)
        broken = float(steps[0]["daily_thc_mg"]) > 2.5
        last_increase = day(steps[0]["date"])
        for previous, step in pairwise(steps):
            when = day(step["date"])
            increase = float(step["daily_thc_mg"]) - float(previous["daily_thc_mg"])
            if registry_id not in withdrawal or when < withdrawal[registry_id]:
                assert abs(increase) <= 2.5 or (when - inclusion[registry_id]).days < 28
            if increase > 0 and (when - inclusion[registry_id]).days < 28:
                broken |= increase > 2.5 + 1e-9 or (when - last_increase).days < 3
                last_increase = when
        breakers += broken
    assert 0.01 * len(inclusion) <= breakers <= 0.12 * len(inclusion)


def test_titration_cbd_follows_the_product_ratio(
    registry: list[Record], products: dict[str, dict[str, object]]
) -> None:
    product_of = patient_products(registry)
    for step in of_type(registry, "titration_step"):
        product = products[product_of[str(step["registry_id"])]]
        expected = float(step["daily_thc_mg"]) * float(product["cbd"]) / float(product["thc"])
        assert step["daily_cbd_mg"] == pytest.approx(expected, abs=0.01)
        assert float(step["daily_cbd_mg"]) <= 1000
    for rx in of_type(registry, "prescription"):
        product = products[str(rx["product"])]
        expected = float(rx["daily_thc_mg"]) * float(product["cbd"]) / float(product["thc"])
        assert rx["daily_cbd_mg"] == pytest.approx(expected, abs=0.01)


def test_complex_consultations_follow_the_schedule_with_a_few_missed(registry: list[Record]) -> None:
    inclusion = {p["registry_id"]: day(p["inclusion_date"]) for p in of_type(registry, "patient")}
    missed = 0
    simple = 0
    for registry_id, visits in by_patient(registry, "consultation").items():
        months = []
        for visit in visits:
            if visit["kind"] == "complex":
                month = int(visit["month"])
                assert month in {1, 3, 6, 12, 18, 24, 30}
                offset = (day(visit["date"]) - inclusion[registry_id]).days
                assert abs(offset - month * 30.44) <= 5
                months.append(month)
            else:
                assert visit["kind"] == "simple" and visit.get("month") is None
                simple += 1
        assert len(months) == len(set(months))
        if months:
            expected = [m for m in (1, 3, 6, 12, 18, 24, 30) if m <= max(months)]
            missed += len(expected) - len(months)
    assert missed > 0 and simple > 0


def test_nothing_but_weaning_after_a_withdrawal(registry: list[Record]) -> None:
    inclusion = {p["registry_id"]: day(p["inclusion_date"]) for p in of_type(registry, "patient")}
    withdrawals = {w["registry_id"]: w for w in of_type(registry, "withdrawal")}
    assert 0.03 * len(inclusion) <= len(withdrawals) <= 0.15 * len(inclusion)
    prescriptions = {rx["id"]: rx for rx in of_type(registry, "prescription")}
    steps = by_patient(registry, "titration_step")
    visits = by_patient(registry, "consultation")
    weaned = 0
    for registry_id, withdrawal in withdrawals.items():
        stop = day(withdrawal["date"])
        assert stop > inclusion[registry_id]
        assert withdrawal["reason"] in {
            "insufficient_efficacy",
            "adverse_effects",
            "patient_choice",
            "treatment_no_longer_needed",
        }
        assert all(day(v["date"]) < stop for v in visits[registry_id])
        ordered = sorted(steps[registry_id], key=lambda s: str(s["date"]))
        for previous, step in pairwise(ordered):
            if day(step["date"]) >= stop:
                assert float(step["daily_thc_mg"]) < float(previous["daily_thc_mg"])
                assert float(step["daily_cbd_mg"]) <= float(previous["daily_cbd_mg"])
                weaned += 1
        for rx in prescriptions.values():
            if rx["registry_id"] == registry_id and day(rx["start_date"]) >= stop:
                assert rx.get("weaning") is True
    for dispensation in of_type(registry, "dispensation"):
        registry_id = prescriptions[dispensation["prescription_id"]]["registry_id"]
        if registry_id in withdrawals and day(dispensation["date"]) >= day(withdrawals[registry_id]["date"]):
            assert dispensation.get("weaning") is True
    assert weaned > 0
    assert all(
        registry_id in withdrawals
        for registry_id in {rx["registry_id"] for rx in prescriptions.values() if rx.get("weaning")}
    )


@pytest.mark.parametrize("fixture", ["registry", "early_registry"])
def test_no_record_after_today(fixture: str, request: pytest.FixtureRequest) -> None:
    records: list[Record] = request.getfixturevalue(fixture)
    today = TODAY if fixture == "registry" else EARLY_TODAY
    dated = 0
    latest = date.min
    for record in records:
        for field in ("date", "start_date", "inclusion_date"):
            if field in record:
                when = day(record[field])
                assert when <= today, record
                latest = max(latest, when)
                dated += 1
    assert dated > len(records) * 0.9
    assert latest >= today - timedelta(days=30)  # histories do run up to today


def test_generation_is_deterministic_for_a_seed(registry: list[Record]) -> None:
    assert generate(today=TODAY) == registry
    assert generate(seed=8, today=TODAY) != registry
    small = generate(patients=5, seed=8, today=TODAY)
    assert generate(patients=5, seed=8, today=TODAY) == small


def test_the_patient_count_is_honoured() -> None:
    assert len(of_type(generate(patients=0, today=TODAY), "patient")) == 0
    assert len(of_type(generate(patients=37, today=TODAY), "patient")) == 37


def test_a_day_before_the_experimentation_is_refused() -> None:
    with pytest.raises(ValueError):
        generate(patients=3, today=date(2021, 3, 25))


def test_three_hundred_patients_generate_in_well_under_a_second() -> None:
    began = time.perf_counter()
    generate(patients=300, seed=3, today=TODAY)
    assert time.perf_counter() - began < 1.0


def test_inclusions_follow_the_window_of_the_settings() -> None:
    start, cutoff = date(2022, 1, 10), date(2022, 3, 1)
    records = generate(
        patients=60, today=TODAY, settings=Settings(experimentation_start=start, inclusion_cutoff=cutoff)
    )
    dates = [day(p["inclusion_date"]) for p in of_type(records, "patient")]
    assert len(dates) == 60 and all(start <= d < cutoff for d in dates)
    with pytest.raises(ValueError):
        generate(patients=1, today=date(2022, 1, 9), settings=Settings(experimentation_start=start))


def test_products_come_from_the_reference_data() -> None:
    oils = {code: product for code, product in REFERENCE.products.items() if product.form == "oil"}
    reference = msgspec.structs.replace(REFERENCE, products=oils)
    used = {
        str(rx["product"]) for rx in of_type(generate(patients=80, today=TODAY, reference=reference), "prescription")
    }
    assert used and used <= set(oils)


def test_titration_follows_the_protocol_of_the_reference_data() -> None:
    protocol = msgspec.structs.replace(
        REFERENCE.titration_protocol, max_start_daily_thc_mg=1.0, max_daily_thc_mg=6.0, titration_days=14
    )
    reference = msgspec.structs.replace(REFERENCE, titration_protocol=protocol)
    records = generate(patients=150, today=TODAY, reference=reference)
    first_steps: dict[str, float] = {}
    for step in sorted(of_type(records, "titration_step"), key=lambda s: str(s["date"])):
        first_steps.setdefault(str(step["registry_id"]), float(step["daily_thc_mg"]))
        assert float(step["daily_thc_mg"]) <= 6.0
    assert sum(start <= 1.0 for start in first_steps.values()) >= 0.9 * len(first_steps)
