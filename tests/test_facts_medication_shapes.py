"""Medication exposures read as a clinician reads them: dosage bounds and steps, sigs, ranges,
dispensed supply, product identity through the RxNorm table, and what is never guessed."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds.facts.build import FactSet, build_facts
from cds.facts.dose import amount_from_text, daily_dose, per_day_range
from cds.ingest.load import flatten
from cds.knowledge import default_knowledge
from cds.synthetic import PatientBuilder
from cds.terminology.drug_identity import normalise_ndc

AS_OF = date(2025, 6, 2)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def facts(p: PatientBuilder) -> FactSet:
    return build_facts(flatten(p.bundle()), default_knowledge(), AS_OF)


def patient() -> PatientBuilder:
    p = PatientBuilder("1980-01-01", pid="t")
    p.condition("F33.1", onset="2024-09-01")
    return p


def rx(code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": RXNORM, "code": code}
    return {"coding": [coding | ({"display": display} if display else {})]}


def order(
    p: PatientBuilder, rid: str, concept: dict[str, Any], dosages: list[dict[str, Any]], **extra: Any
) -> None:
    p.resources.append(
        {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": extra.pop("status", "active"),
            "intent": "order",
            "medicationCodeableConcept": concept,
            "subject": {"reference": "Patient/t"},
            "dosageInstruction": dosages,
            **extra,
        }
    )


def mg_daily(mg: float, **repeat: Any) -> dict[str, Any]:
    return {
        "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", **repeat}},
        "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg"}}],
    }


SERTRALINE = rx("36437", "sertraline")


# ---- intake period --------------------------------------------------------------------------


def test_an_active_order_whose_bounds_ended_is_not_ongoing_and_validity_does_not_extend_it() -> None:
    p = patient()
    order(
        p,
        "r1",
        SERTRALINE,
        [mg_daily(150, boundsPeriod={"start": "2025-01-02", "end": "2025-01-16"})],
        authoredOn="2025-01-02",
        dispenseRequest={"validityPeriod": {"start": "2025-01-02", "end": "2025-12-31"}},
    )
    f = facts(p)
    [trial] = f.trials
    assert trial.ongoing is False and trial.end == date(2025, 1, 16)
    assert trial.adequate is False and trial.counts_as_failed is False  # two weeks is never adequate
    assert f.history.on_oral_antidepressant is False


def test_validity_and_refills_fill_in_only_without_bounds() -> None:
    p = patient()
    order(
        p,
        "r1",
        SERTRALINE,
        [mg_daily(150)],
        status="completed",
        authoredOn="2024-09-15",
        dispenseRequest={"expectedSupplyDuration": {"value": 30, "code": "d"}, "numberOfRepeatsAllowed": 2},
    )
    [trial] = facts(p).trials
    assert (trial.start, trial.end) == (date(2024, 9, 15), date(2024, 12, 14))


def test_bounds_duration_steps_follow_each_other_from_the_order_start() -> None:
    p = patient()
    order(
        p,
        "r1",
        SERTRALINE,
        [
            {**mg_daily(25, boundsDuration={"value": 14, "unit": "days", "code": "d"}), "sequence": 1},
            {**mg_daily(100, boundsDuration={"value": 8, "unit": "weeks", "code": "wk"}), "sequence": 2},
        ],
        status="stopped",
        authoredOn="2024-09-15",
        statusReason={"text": "lack of efficacy"},
    )
    [trial] = facts(p).trials
    assert trial.start == date(2024, 9, 15) and trial.end == date(2024, 11, 24)
    assert trial.weeks_at_adequate_dose == 8.0 and trial.adequate is True and trial.counts_as_failed is True


def test_a_taper_is_judged_on_the_dose_held_not_the_first_line() -> None:
    p = patient()
    order(
        p,
        "r1",
        SERTRALINE,
        [
            {**mg_daily(100, boundsPeriod={"start": "2024-09-15", "end": "2024-10-06"}), "sequence": 1},
            {**mg_daily(25, boundsPeriod={"start": "2024-10-06", "end": "2024-12-15"}), "sequence": 2},
        ],
        status="stopped",
        statusReason={"text": "lack of efficacy"},
    )
    [trial] = facts(p).trials
    assert trial.weeks_at_adequate_dose == 3.0 and trial.adequate is False and trial.counts_as_failed is False


def test_dosages_sharing_a_sequence_add_up() -> None:
    p = patient()
    order(
        p,
        "r1",
        rx("39786", "venlafaxine"),
        [
            {**mg_daily(37.5, when=["MORN"]), "sequence": 1},
            {**mg_daily(37.5, when=["EVE"]), "sequence": 1},
        ],
        authoredOn="2025-01-02",
    )
    [trial] = facts(p).trials
    assert trial.daily_dose_mg == 75 and trial.ongoing is True


# ---- dispenses ------------------------------------------------------------------------------


def dispense(p: PatientBuilder, rid: str, when: str, days: int, qty: float, concept: dict[str, Any]) -> None:
    p.resources.append(
        {
            "resourceType": "MedicationDispense",
            "id": rid,
            "status": "completed",
            "medicationCodeableConcept": concept,
            "subject": {"reference": "Patient/t"},
            "whenHandedOver": when,
            "quantity": {"value": qty, "unit": "tablet"},
            "daysSupply": {"value": days, "unit": "d"},
        }
    )


def test_dispensed_supply_makes_a_course_ongoing_while_it_covers_today() -> None:
    p = patient()
    for i, when in enumerate(["2025-03-05", "2025-04-04", "2025-05-04"]):
        dispense(p, f"d{i}", when, 30, 30, rx("312941", "sertraline 50 MG Oral Tablet"))
    f = facts(p)
    [trial] = f.trials
    assert trial.ongoing is True and trial.daily_dose_mg == 50 and f.history.on_oral_antidepressant is True


def test_dispensed_supply_that_ran_out_is_not_current() -> None:
    p = patient()
    dispense(p, "d0", "2025-04-01", 30, 30, rx("312941", "sertraline 50 MG Oral Tablet"))
    f = facts(p)
    assert f.trials[0].ongoing is False and f.history.on_oral_antidepressant is False


def test_a_current_benzodiazepine_dispense_counts_in_the_load_at_the_high_end_of_a_range() -> None:
    p = patient()
    dispense(p, "d0", "2025-05-20", 30, 60, rx("197527", "clonazepam 0.5 MG Oral Tablet"))
    p.resources[-1]["dosageInstruction"] = [
        {
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [
                {"doseRange": {"low": {"value": 1, "unit": "tablet"}, "high": {"value": 2, "unit": "tablet"}}}
            ],
        }
    ]
    load = facts(p).benzodiazepines
    assert load.active is True and load.diazepam_equivalent_mg is not None
    assert load.diazepam_equivalent_mg == pytest.approx(1.0 * 10 / 0.5, rel=0.01)  # 1 mg/day clonazepam


# ---- identity -------------------------------------------------------------------------------


def test_the_table_states_its_source_and_covers_every_antidepressant_with_a_minimum_dose() -> None:
    import json

    from cds.paths import fhir_dir

    table = json.loads((fhir_dir() / "rxnorm" / "product-ingredients.json").read_text())
    assert (
        table["generated"]
        and table["sources"][0]["commit"]
        and "RxNorm" in table["sources"][0]["rxnorm_release"]
    )
    covered = {table["ingredients"][i] for p in table["products"].values() for i in p["ingredients"]}
    # EU-only antidepressants (agomelatine, reboxetine ...) are matched by WHO ATC code and name,
    # not RxNorm: the table need not cover them.
    exact = default_knowledge().valuesets.get("antidepressants").exact
    rxnorm_coded = {
        display for (system, _code), (display, _conf) in exact.items() if system.endswith("rxnorm")
    }
    missing = {
        d
        for d, row in default_knowledge().doses.doses.items()
        if row.min_mg_per_day and d not in covered and d in rxnorm_coded
    }
    assert not missing


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("0049-4960-50", "00049496050"),
        ("00049-496-50", "00049049650"),
        ("00049-4960-5", "00049496005"),
        ("00049496050", "00049496050"),
        ("0049496050", None),
    ],
)
def test_ndc_forms_normalise_and_an_ambiguous_10_digit_code_is_not_guessed(
    code: str, expected: str | None
) -> None:
    assert normalise_ndc(code) == expected


def test_branded_drug_and_pack_resolve_to_the_ingredient() -> None:
    ident = default_knowledge().drug_identity
    zoloft = ident.product(RXNORM, "208161")
    assert zoloft is not None and zoloft.tty == "SBD" and zoloft.ingredients == (("36437", "sertraline"),)
    packs = [
        p for p in ident.all_products() if p.tty.endswith("PCK") and ("28439", "lamotrigine") in p.ingredients
    ]
    assert packs and all(p.ingredient_count is None for p in packs)


@pytest.mark.parametrize(
    ("name_parts", "ingredients"),
    [
        (("amphetamine aspartate", "dextroamphetamine sulfate"), {"amphetamine", "dextroamphetamine"}),
        (("atenolol", "chlorthalidone"), {"atenolol", "chlorthalidone"}),
        (("amlodipine", "benazepril"), {"amlodipine"}),
    ],
)
def test_an_ingredient_without_its_own_source_record_is_read_from_its_combination_products_by_ndc(
    name_parts: tuple[str, ...], ingredients: set[str]
) -> None:
    """The source's A.json is not available: amphetamine, atenolol and amlodipine are still found,
    with NDCs, in the combination products listed under their partner ingredient."""
    ident = default_knowledge().drug_identity
    combo = next(
        p for p in ident.all_products() if p.tty == "SCD" and all(part in p.name for part in name_parts)
    )
    table = ident._raw[combo.code]
    ndc = min(table["ndc"].split())
    by_ndc = ident.product("http://hl7.org/fhir/sid/ndc", f"{ndc[:5]}-{ndc[5:9]}-{ndc[9:]}")
    assert by_ndc == combo
    assert {name for _code, name in combo.ingredients} == ingredients


def test_the_table_names_the_ingredients_it_has_no_ndc_for() -> None:
    import json

    from cds.paths import fhir_dir

    table = json.loads((fhir_dir() / "rxnorm" / "product-ingredients.json").read_text())
    with_ndc = {
        table["ingredients"][i] for p in table["products"].values() if p.get("ndc") for i in p["ingredients"]
    }
    covered = {table["ingredients"][i] for p in table["products"].values() for i in p["ingredients"]}
    assert set(table["ingredients_without_ndc"]) == covered - with_ndc
    assert set(table["ingredients_without_products"]) == set(table["ingredients"].values()) - covered


def test_an_unreadable_medication_leaves_a_trial_that_cannot_be_settled() -> None:
    p = patient()
    p.medication("venlafaxine", start="2024-09-15", end="2024-12-15", mg=150, stop_reason="lack of efficacy")
    order(
        p,
        "r1",
        rx("99999999"),
        [mg_daily(150)],
        status="stopped",
        authoredOn="2025-01-02",
        dispenseRequest={"validityPeriod": {"start": "2025-01-02", "end": "2025-04-02"}},
        statusReason={"text": "no response"},
    )
    f = facts(p)
    unknown = next(t for t in f.trials if t.drug.startswith("unidentified"))
    assert unknown.counts_as_failed is None and unknown.adequate is None
    assert unknown.missing and "record the drug name" in unknown.missing
    assert f.history.adequate_failed_trials == 1 and f.history.possible_failed_trials == 2
    assert not any(m.ingredient.startswith("unidentified") for m in f.medications)


def test_a_combination_product_gives_no_dose_for_its_ingredient() -> None:
    ident = default_knowledge().drug_identity
    combo = next(
        p
        for p in ident.all_products()
        if p.tty == "SCD" and "fluoxetine" in p.name and "olanzapine" in p.name
    )
    p = patient()
    order(
        p,
        "r1",
        rx(combo.code),
        [mg_daily(1) | {"doseAndRate": [{"doseQuantity": {"value": 1, "unit": "capsule"}}]}],
        authoredOn="2025-01-02",
    )
    trial = next(t for t in facts(p).trials if t.drug == "fluoxetine")
    assert trial.daily_dose_mg is None and trial.adequate_dose is None


# ---- dose -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "strength", "expected"),
    [
        ("150 mg daily", None, 150),
        ("1 tab BID", 50, 100),
        ("take 2 tablets at bedtime", 25, 50),
        ("Take 1 tablet (100 mg total) by mouth daily.", None, 100),
        ("Take one tablet by mouth every morning", 75, 75),
        ("sertraline 50 mg: take 2 tablets once daily", None, 100),
        ("37.5 mg every 12 hours", None, 75),
    ],
)
def test_sig_text_when_no_structured_dose(text: str, strength: float | None, expected: float) -> None:
    assert daily_dose({"text": text}, strength, where="x").low == expected


@pytest.mark.parametrize(
    "text",
    [
        "50 mg daily for 7 days then 100 mg daily",
        "1 tab as needed for anxiety",
        "take as directed",
        "2 tablets daily",
    ],
)
def test_sig_text_that_cannot_be_read_gives_no_dose(text: str) -> None:
    reading = daily_dose({"text": text}, None, where="x")
    assert reading.low is None and reading.note


def test_dose_range_keeps_both_ends_and_frequency_max_widens_the_high_end() -> None:
    d = {
        "timing": {"repeat": {"frequency": 1, "frequencyMax": 2, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [
            {"doseRange": {"low": {"value": 50, "unit": "mg"}, "high": {"value": 100, "unit": "mg"}}}
        ],
    }
    reading = daily_dose(d, None, where="x")
    assert (reading.low, reading.high) == (50, 200)


def test_mg_entry_is_preferred_over_tablets_and_disagreeing_mg_entries_give_no_dose() -> None:
    both = {
        "timing": {"code": {"coding": [{"code": "BID"}]}},
        "doseAndRate": [
            {"doseQuantity": {"value": 1, "unit": "tablet"}},
            {"doseQuantity": {"value": 75, "unit": "mg"}},
        ],
    }
    assert daily_dose(both, None, where="x").low == 150
    clash = {
        **both,
        "doseAndRate": [
            {"doseQuantity": {"value": 75, "unit": "mg"}},
            {"doseQuantity": {"value": 50, "unit": "mg"}},
        ],
    }
    assert daily_dose(clash, None, where="x").low is None


@pytest.mark.parametrize(
    ("timing", "expected"),
    [
        ({"code": {"coding": [{"code": "Q12H"}]}}, 2),
        ({"code": {"coding": [{"code": "QHS"}]}}, 1),
        ({"code": {"coding": [{"code": "TID"}]}}, 3),
        ({"repeat": {"when": ["MORN", "HS"]}}, 2),
        ({"repeat": {"when": ["C"]}}, 3),
        ({"repeat": {"timeOfDay": ["08:00:00", "20:00:00"]}}, 2),
    ],
)
def test_timing_codes_and_events(timing: dict[str, Any], expected: float) -> None:
    assert per_day_range({"timing": timing}) == (expected, expected)


def test_an_implausible_dose_is_not_used_and_the_trial_cannot_be_settled() -> None:
    p = patient()
    p.medication("sertraline", start="2024-09-15", end="2024-12-15", mg=5000, stop_reason="lack of efficacy")
    [trial] = facts(p).trials
    assert trial.daily_dose_mg is None and trial.adequate is None and trial.counts_as_failed is None
    assert trial.missing and "implausible" in trial.missing


def test_tablet_count_in_text_without_any_strength_says_so() -> None:
    assert (
        amount_from_text("take 2 tablets daily", None)
        == "tablet count in the sig but the product strength is unknown"
    )


def test_the_shipped_table_is_consistent_and_current_with_the_drug_value_sets() -> None:
    """Every ingredient a drug value set lists is in the table (rerun tools/build_rxnorm_map.py
    after adding one); every product names known ingredients; every NDC names a product."""
    import importlib.util
    import json

    from cds.paths import fhir_dir, project_root

    spec = importlib.util.spec_from_file_location(
        "build_rxnorm_map", project_root() / "tools" / "build_rxnorm_map.py"
    )
    assert spec and spec.loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    wanted, _ = tool.wanted_ingredients()
    table = json.loads((fhir_dir() / "rxnorm" / "product-ingredients.json").read_text())
    assert set(wanted) <= set(table["ingredients"])
    assert all(i in table["ingredients"] for p in table["products"].values() for i in p["ingredients"])
    ndcs = [n for p in table["products"].values() for n in p.get("ndc", "").split()]
    assert ndcs and all(len(n) == 11 and n.isdigit() for n in ndcs) and len(ndcs) == len(set(ndcs))
