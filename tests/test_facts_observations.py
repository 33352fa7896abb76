"""Observation facts on the shapes real records carry: weights through UCUM with a plausible range,
blood pressure paired by time, hCG against its thresholds, pregnancy conditions, age ranges."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds.facts.observations import read_weight
from cds.facts.patient import build_patient
from cds.ingest.load import RawResource
from cds.knowledge import default_knowledge
from cds.pipeline import evaluate
from cds.synthetic import trd_patient

AS_OF = date(2025, 6, 2)
LIMITS = default_knowledge().settings.observations
UCUM = "http://unitsofmeasure.org"


@pytest.mark.parametrize(
    ("quantity", "kg"),
    [
        ({"value": 68, "system": UCUM, "code": "kg"}, 68.0),
        ({"value": 68000, "system": UCUM, "code": "g"}, 68.0),
        ({"value": 149.91, "unit": "lb", "system": UCUM, "code": "[lb_av]"}, 68.0),
        ({"value": 2398.6, "unit": "oz", "system": UCUM, "code": "[oz_av]"}, 68.0),
        ({"value": 10.708, "system": UCUM, "code": "[stone_av]"}, 68.0),
        ({"value": 0.068, "system": UCUM, "code": "t"}, 68.0),
        ({"value": 68, "unit": "kg"}, 68.0),
    ],
    ids=["kg", "g", "lb", "oz", "stone", "tonne", "unit-text"],
)
def test_every_ucum_mass_unit_gives_kilograms(quantity: dict[str, Any], kg: float) -> None:
    w = read_weight(quantity, LIMITS)
    assert w.problem is None and w.kg == pytest.approx(kg, abs=0.05)


@pytest.mark.parametrize(
    ("quantity", "problem"),
    [
        ({"value": 150, "unit": "lbs"}, "not a UCUM mass unit"),
        ({"value": 150, "system": UCUM, "code": "cm"}, "not a UCUM mass unit"),
        ({"value": 150}, "no UCUM unit"),
        ({"value": 150, "system": "http://example.org/units", "code": "kg"}, "no UCUM unit"),
        ({"value": 2398, "system": UCUM, "code": "kg"}, "outside the plausible adult range"),
        ({"value": 20, "system": UCUM, "code": "kg"}, "outside the plausible adult range"),
        ({"value": 70, "comparator": ">", "system": UCUM, "code": "kg"}, "bounded"),
    ],
    ids=["lbs", "length", "no-unit", "other-system", "too-heavy", "too-light", "comparator"],
)
def test_unreadable_or_implausible_weight_is_a_problem_never_a_weight(
    quantity: dict[str, Any], problem: str
) -> None:
    w = read_weight(quantity, LIMITS)
    assert w.kg is None and w.problem is not None and problem in w.problem


def test_plausible_range_bounds_are_inclusive() -> None:
    assert read_weight({"value": LIMITS.weight_max_kg, "code": "kg"}, LIMITS).kg == LIMITS.weight_max_kg
    assert read_weight({"value": LIMITS.weight_min_kg, "code": "kg"}, LIMITS).kg == LIMITS.weight_min_kg


def _bundle() -> dict[str, Any]:
    return trd_patient("obs").bundle()


def _obs(bundle: dict[str, Any], code: str) -> dict[str, Any]:
    return next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == code
    )


def _add(bundle: dict[str, Any], rid: str, code: str, when: str, value: float, unit: str = "mm[Hg]") -> None:
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "id": rid,
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "subject": {"reference": "Patient/obs"},
                "effectiveDateTime": when,
                "valueQuantity": {"value": value, "system": UCUM, "code": unit},
            }
        }
    )


def test_unusable_latest_weight_blocks_the_iv_dose_and_says_why() -> None:
    bundle = _bundle()
    _obs(bundle, "29463-7")["valueQuantity"] = {"value": 150, "unit": "lbs"}
    ev = evaluate([bundle], as_of=AS_OF)
    assert ev.facts.body.weight_status == "unusable" and ev.facts.body.weight_kg is None
    iv = next(p for p in ev.assessment.products if p.product == "ketamine-iv")
    assert iv.dosing is None and iv.verdict == "insufficient-data"
    gap = next(f for f in ev.assessment.findings if f.rule == "data-gap.weight")
    assert "'lbs' is not a UCUM mass unit" in gap.detail and "UCUM" in (gap.obtain or "")


def test_separate_results_further_apart_than_the_tolerance_are_not_one_reading() -> None:
    bundle = _bundle()
    bundle["entry"] = [
        e
        for e in bundle["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") != "85354-9"
    ]
    minutes = LIMITS.bp_pairing_minutes
    _add(bundle, "s", "8480-6", "2025-05-30T10:00:00Z", 128)
    _add(bundle, "d", "8462-4", f"2025-05-30T10:{int(minutes) + 1:02d}:00Z", 78)
    bp = evaluate([bundle], as_of=AS_OF).facts.blood_pressure
    assert bp.status == "missing", "two halves of different measurements made a complete reading"
    _add(bundle, "d2", "8462-4", f"2025-05-30T10:{int(minutes):02d}:00Z", 80)
    bp = evaluate([bundle], as_of=AS_OF).facts.blood_pressure
    assert (bp.status, bp.systolic, bp.diastolic) == ("current", 128, 80)


def test_a_newer_elevated_half_reading_is_not_hidden_behind_an_older_complete_one() -> None:
    bundle = _bundle()  # panel 2025-05-28, normal
    _add(bundle, "late-sys", "8480-6", "2025-05-31", 172)
    a = evaluate([bundle], as_of=AS_OF)
    assert a.facts.blood_pressure.systolic == 172
    assert "precaution.elevated-blood-pressure" in {f.rule for f in a.assessment.findings}


@pytest.mark.parametrize(
    ("value", "unit", "comparator", "status"),
    [
        (4.9, "[IU]/L", None, "not-pregnant"),
        (5, "[IU]/L", None, "unknown"),
        (24.9, "m[IU]/mL", None, "unknown"),
        (25, "m[IU]/mL", None, "pregnant"),
        (0.025, "[IU]/mL", None, "pregnant"),
        (5, "[IU]/L", "<", "not-pregnant"),
        (10, "[IU]/L", "<", "unknown"),
        (1000, "[IU]/L", ">", "pregnant"),
        (3, "mIU/mL", None, "unknown"),  # not UCUM: unreadable, never negative
        (3, "ng/mL", None, "unknown"),  # mass, not IU: no conversion
    ],
)
def test_quantitative_hcg_thresholds(value: float, unit: str, comparator: str | None, status: str) -> None:
    bundle = _bundle()
    test = _obs(bundle, "82810-3")
    test.pop("valueCodeableConcept")
    test["code"] = {"coding": [{"system": "http://loinc.org", "code": "21198-7"}]}
    test["valueQuantity"] = {"value": value, "system": UCUM, "code": unit}
    if comparator:
        test["valueQuantity"]["comparator"] = comparator
    fact = evaluate([bundle], as_of=AS_OF).facts.pregnancy
    assert fact.status == status
    if status == "unknown":
        assert fact.reason and "cannot be read as negative" in fact.reason


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Negative", "not-pregnant"),
        ("POSITIVE", "pregnant"),
        ("not detected", "not-pregnant"),
        ("see note", "unknown"),
    ],
)
def test_text_results(text: str, status: str) -> None:
    bundle = _bundle()
    test = _obs(bundle, "82810-3")
    test.pop("valueCodeableConcept")
    test["code"] = {"coding": [{"system": "http://loinc.org", "code": "2106-3"}]}
    test["valueString"] = text
    assert evaluate([bundle], as_of=AS_OF).facts.pregnancy.status == status


def test_an_old_active_pregnancy_condition_without_a_later_test_is_unknown() -> None:
    bundle = _bundle()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("id") != _obs(bundle, "82810-3")["id"]]
    bundle["entry"].append(
        {"resource": _condition("O99.89", "http://hl7.org/fhir/sid/icd-10-cm", "2024-01-01")}
    )
    a = evaluate([bundle], as_of=AS_OF)
    assert a.facts.pregnancy.status == "unknown"
    gap = next(f for f in a.assessment.findings if f.rule == "data-gap.pregnancy-status")
    assert "O99.89" in gap.detail and gap.blocks


def _condition(code: str, system: str, onset: str | None) -> dict[str, Any]:
    c: dict[str, Any] = {
        "resourceType": "Condition",
        "id": f"c-{code}",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/obs"},
    }
    if onset:
        c["onsetDateTime"] = onset
    return c


@pytest.mark.parametrize(
    ("code", "onset", "status"),
    [
        ("O26.891", None, "pregnant"),  # chapter 15, no dates: pregnant (stricter reading)
        ("O09.511", "2025-03-01", "pregnant"),
        ("O99.89", "2024-01-01", "not-pregnant"),  # older than a pregnancy lasts, settled by the later test
        ("O90.89", "2025-05-30", "unknown"),  # puerperium after the last negative test: confirm
        ("O90.89", "2025-05-01", "not-pregnant"),  # puerperium before the last negative test
    ],
)
def test_pregnancy_chapter_codes(code: str, onset: str | None, status: str) -> None:
    bundle = _bundle()  # negative pregnancy test on 2025-05-28
    bundle["entry"].append({"resource": _condition(code, "http://hl7.org/fhir/sid/icd-10-cm", onset)})
    assert evaluate([bundle], as_of=AS_OF).facts.pregnancy.status == status


@pytest.mark.parametrize(
    ("birth", "low", "high", "text"),
    [
        ("1980-03-14", 45, 45, "45"),
        ("1980-06", 44, 45, "44 or 45"),
        ("1980", 44, 45, "44 or 45"),
        ("2025", 0, 0, "0"),
        ("2007-05", 18, 18, "18"),
    ],
)
def test_partial_birth_dates_give_an_age_range(birth: str, low: int, high: int, text: str) -> None:
    res = RawResource({"resourceType": "Patient", "id": "p", "birthDate": birth, "gender": "female"}, "test")
    fact = build_patient(res, AS_OF, default_knowledge().settings)
    assert (fact.age_min_years, fact.age_max_years, fact.age_text) == (low, high, text)


def test_a_deceased_patient_is_not_asked_for_vitals_nor_dosed() -> None:
    bundle = _bundle()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Observation"]
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    alive = evaluate([bundle], as_of=AS_OF).assessment
    assert {"data-gap.blood-pressure", "data-gap.weight", "data-gap.pregnancy-status"} <= {
        f.rule for f in alive.findings
    }
    patient["deceasedDateTime"] = "2025-05-01"
    dead = evaluate([bundle], as_of=AS_OF).assessment
    assert dead.indication.status == "not-eligible"
    assert [r.rule for r in dead.indication.rules if r.rule == "indication.deceased"]
    assert not [f for f in dead.findings if f.category in ("data-gap", "dosing", "monitoring")]
    assert {p.verdict for p in dead.products} == {"not-indicated"}


@pytest.mark.parametrize(
    ("unit", "systolic"),
    [("mm[Hg]", 150.0), ("kPa", 150.0), ("mmHg", 150.0), ("%", None)],
)
def test_blood_pressure_units(unit: str, systolic: float | None) -> None:
    bundle = _bundle()
    value = 150 if unit != "kPa" else 150 / 7.50061683
    for comp in _obs(bundle, "85354-9")["component"]:
        if comp["code"]["coding"][0]["code"] == "8480-6":
            comp["valueQuantity"] = {"value": value, "unit": unit} | (
                {"code": unit} if unit != "mmHg" else {}
            )
    bp = evaluate([bundle], as_of=AS_OF).facts.blood_pressure
    if systolic is None:
        assert bp.status == "missing", "a non-pressure unit cleared the blood pressure"
    else:
        assert bp.systolic == pytest.approx(systolic, abs=0.1)


def test_same_day_readings_without_times_give_the_highest_of_each_half() -> None:
    bundle = _bundle()  # panel 128/82 on 2025-05-28 (no clock time)
    _add(bundle, "s2", "8480-6", "2025-05-28", 150)
    _add(bundle, "d2", "8462-4", "2025-05-28", 78)
    bp = evaluate([bundle], as_of=AS_OF).facts.blood_pressure
    assert (bp.systolic, bp.diastolic) == (150, 82)


def test_no_rule_compares_the_single_age() -> None:
    """age_years is the youngest possible age: a rule comparing it could clear a possible 65-year-old
    or misread a range. Rules compare age_min_years / age_max_years."""
    from cds.knowledge import default_knowledge

    offenders = [
        r.id
        for r in default_knowledge().ruleset.rules
        for p in r.when
        if p.fact == "patient" and ("age_years" in p.where or any("age_years" in alt for alt in p.any))
    ]
    assert offenders == []


def test_an_older_positive_test_with_nothing_after_it_still_means_pregnant() -> None:
    bundle = _bundle()
    test = _obs(bundle, "82810-3")
    test["effectiveDateTime"] = "2025-03-01"  # 93 days before: outside the 30-day look-back
    test["valueCodeableConcept"] = {"coding": [{"system": "http://loinc.org", "code": "LA15173-0"}]}
    assert evaluate([bundle], as_of=AS_OF).facts.pregnancy.status == "pregnant"
    test["valueCodeableConcept"] = {"coding": [{"system": "http://loinc.org", "code": "LA26683-5"}]}
    assert evaluate([bundle], as_of=AS_OF).facts.pregnancy.status == "unknown"  # too old to rule out
