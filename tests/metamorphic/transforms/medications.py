"""Medication shapes: the same antidepressant history re-encoded the other valid FHIR R4 ways, and
edits that change what a clinician would conclude.

The example patients take sertraline 150 mg/day 2024-09-15..2024-12-15 (stopped: lack of
efficacy) and venlafaxine 150 mg/day since 2025-01-02 (active), both as MedicationStatements.
RxNorm product codes and NDCs come from the shipped table (fhir/rxnorm/product-ingredients.json),
never typed here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from functools import cache
from typing import Any

from tests.metamorphic.harness import ROOT, Assessment, Changing, Preserving, Resources, by_type

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"


@cache
def _table() -> dict[str, Any]:
    return json.loads((ROOT / "fhir" / "rxnorm" / "product-ingredients.json").read_text())  # type: ignore[no-any-return]


def _product(name: str) -> str:
    """The RxNorm code of the product with exactly this name in the shipped table."""
    return next(code for code, p in _table()["products"].items() if p["name"] == name)


def _ndc_of(rxcui: str) -> str:
    """An NDC of the product, hyphenated 5-4-2 as package labels print it."""
    n = min(_table()["products"][rxcui]["ndc"].split())
    return f"{n[:5]}-{n[5:9]}-{n[9:]}"


# Single-ingredient oral products whose strength divides the example doses (150 mg/day).
TABLETS = {
    "sertraline": ("sertraline 50 MG Oral Tablet", 50.0),
    "venlafaxine": ("venlafaxine 75 MG Oral Tablet", 75.0),
}


def _statements(resources: Resources) -> list[dict[str, Any]]:
    return by_type(resources, "MedicationStatement")


def _drug(res: dict[str, Any]) -> str:
    return str(res["medicationCodeableConcept"]["coding"][0]["display"])


def _dose_mg(res: dict[str, Any]) -> float:
    return float(res["dosage"][0]["doseAndRate"][0]["doseQuantity"]["value"])


def _each_statement(fn: Callable[[dict[str, Any]], None]) -> Callable[[Resources], Resources]:
    def apply(resources: Resources) -> Resources:
        for res in _statements(resources):
            fn(res)
        return resources

    apply.__doc__ = fn.__doc__
    return apply


# ---- meaning-preserving ---------------------------------------------------------------------


@_each_statement
def bounds_instead_of_effective_period(res: dict[str, Any]) -> None:
    """FHIR R4 Timing.repeat.boundsPeriod ("the length of time the administration should take
    place", hl7.org/fhir/R4/datatypes.html#Timing) carries the intake period instead of
    MedicationStatement.effectivePeriod (0..1)."""
    period = res.pop("effectivePeriod")
    for d in res["dosage"]:
        d["timing"]["repeat"]["boundsPeriod"] = period


def statements_as_orders(resources: Resources) -> Resources:
    """US Core MedicationRequest (hl7.org/fhir/us/core/StructureDefinition-us-core-medicationrequest):
    the medication list as orders; the intake period in dosageInstruction.timing.repeat.boundsPeriod
    (as in the QI-Core test bundles of ../shared/fhir-samples), authoredOn at the start, and a
    validityPeriod that only authorises (ignored when bounds exist)."""
    out: Resources = []
    for res in resources:
        if res.get("resourceType") != "MedicationStatement":
            out.append(res)
            continue
        period = res["effectivePeriod"]
        dosage = [
            {**d, "timing": {"repeat": {**d["timing"]["repeat"], "boundsPeriod": period}}}
            for d in res["dosage"]
        ]
        order: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": res["id"],
            "status": {"completed": "stopped"}.get(res["status"], res["status"]),
            "intent": "order",
            "medicationCodeableConcept": res["medicationCodeableConcept"],
            "subject": res["subject"],
            "authoredOn": period["start"],
            "dosageInstruction": dosage,
            "dispenseRequest": {
                "validityPeriod": {"start": period["start"], "end": "2025-12-31"},
                "numberOfRepeatsAllowed": 11,
                "expectedSupplyDuration": {
                    "value": 30,
                    "unit": "days",
                    "system": "http://unitsofmeasure.org",
                    "code": "d",
                },
            },
        }
        if "statusReason" in res:
            order["statusReason"] = res["statusReason"][0]  # 0..1 on MedicationRequest
        out.append(order)
    return out


@_each_statement
def sig_text_instead_of_dose_quantity(res: dict[str, Any]) -> None:
    """Dosage.text only ("free text dosage instructions", FHIR R4 Dosage), as an unstructured sig
    such as "150 mg daily"."""
    dose = _dose_mg(res)
    res["dosage"] = [{"text": f"{dose:g} mg daily"}]


@_each_statement
def epic_style_sig_with_tablet_total(res: dict[str, Any]) -> None:
    """The sig form Epic prints ("Take 3 tablets (150 mg total) by mouth daily.") in Dosage.text,
    with the product coded as an RxNorm SCD."""
    name, strength = TABLETS[_drug(res)]
    dose = _dose_mg(res)
    res["medicationCodeableConcept"] = {
        "coding": [{"system": RXNORM, "code": _product(name), "display": name}]
    }
    res["dosage"] = [{"text": f"Take {dose / strength:g} tablets ({dose:g} mg total) by mouth daily."}]


@_each_statement
def tablet_count_with_scd_strength(res: dict[str, Any]) -> None:
    """doseQuantity in tablets ({tbl}, UCUM annotation) with the strength only in the RxNorm SCD
    the product is coded with (no display): dose = count x strength from the product table."""
    name, strength = TABLETS[_drug(res)]
    dose = _dose_mg(res)
    res["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": _product(name)}]}
    res["dosage"][0]["doseAndRate"] = [
        {
            "doseQuantity": {
                "value": dose / strength,
                "unit": "tablet",
                "system": "http://unitsofmeasure.org",
                "code": "{tbl}",
            }
        }
    ]


@_each_statement
def scd_code_without_display(res: dict[str, Any]) -> None:
    """The product as an RxNorm SCD code with no display and no text (coding.display is 0..1)."""
    name, _ = TABLETS[_drug(res)]
    res["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": _product(name)}]}


@_each_statement
def ndc_without_display(res: dict[str, Any]) -> None:
    """The product as an NDC package code (http://hl7.org/fhir/sid/ndc, hyphenated 5-4-2) only."""
    name, _ = TABLETS[_drug(res)]
    res["medicationCodeableConcept"] = {"coding": [{"system": NDC, "code": _ndc_of(_product(name))}]}


@_each_statement
def contained_medication(res: dict[str, Any]) -> None:
    """medicationReference to a contained Medication ("#med", FHIR R4 References to contained
    resources) whose code is the SCD without display."""
    name, _ = TABLETS[_drug(res)]
    res.pop("medicationCodeableConcept")
    res["contained"] = [
        {
            "resourceType": "Medication",
            "id": "med",
            "code": {"coding": [{"system": RXNORM, "code": _product(name)}]},
        }
    ]
    res["medicationReference"] = {"reference": "#med"}


def _medication_resources(
    reference: Callable[[dict[str, Any]], dict[str, Any]], resources: Resources
) -> Resources:
    meds: Resources = []
    for res in _statements(resources):
        name, _ = TABLETS[_drug(res)]
        med = {
            "resourceType": "Medication",
            "id": f"med-{res['id']}",
            "identifier": [
                {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288", "value": f"rx-{res['id']}"}
            ],
            "code": {"coding": [{"system": RXNORM, "code": _product(name)}]},
        }
        res.pop("medicationCodeableConcept")
        res["medicationReference"] = reference(med)
        meds.append(med)
    return resources + meds


def absolute_url_reference(resources: Resources) -> Resources:
    """medicationReference as an absolute URL (FHIR R4 Reference.reference "relative, internal or
    absolute URL") to a Medication in the same bundle."""
    return _medication_resources(
        lambda med: {"reference": f"https://ehr.example.org/fhir/R4/Medication/{med['id']}"}, resources
    )


def identifier_only_reference(resources: Resources) -> Resources:
    """medicationReference by identifier only ("logical reference, when literal reference is not
    known", FHIR R4 Reference.identifier); the Medication carries that identifier."""
    return _medication_resources(lambda med: {"identifier": med["identifier"][0]}, resources)


def medication_known_by_ingredient(resources: Resources) -> Resources:
    """A Medication without code, identified by Medication.ingredient[].itemCodeableConcept (the
    RxNorm ingredient) with its strength (FHIR R4 Medication.ingredient.strength, a Ratio)."""
    meds: Resources = []
    for res in _statements(resources):
        concept = res.pop("medicationCodeableConcept")
        meds.append(
            {
                "resourceType": "Medication",
                "id": f"ing-{res['id']}",
                "ingredient": [{"itemCodeableConcept": concept}],
            }
        )
        res["medicationReference"] = {"reference": f"Medication/ing-{res['id']}"}
    return resources + meds


@_each_statement
def timing_code_instead_of_repeat(res: dict[str, Any]) -> None:
    """Timing.code QD from the R4 timing-abbreviation value set (v3 GTSAbbreviation) in place of
    repeat.frequency / period."""
    for d in res["dosage"]:
        d["timing"] = {
            "code": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "QD"}
                ]
            }
        }


@_each_statement
def timing_when_morning(res: dict[str, Any]) -> None:
    """Timing.repeat.when [MORN] (R4 event-timing): once a day, in the morning."""
    for d in res["dosage"]:
        d["timing"] = {"repeat": {"when": ["MORN"]}}


@_each_statement
def calculated_mg_beside_ordered_tablets(res: dict[str, Any]) -> None:
    """Two doseAndRate entries typed by the R4 dose-rate-type code system: "ordered" in tablets
    and "calculated" in mg (the mg one is read, whatever the product)."""
    dose = _dose_mg(res)
    kind = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
    res["dosage"][0]["doseAndRate"] = [
        {
            "type": {"coding": [{"system": kind, "code": "ordered"}]},
            "doseQuantity": {"value": 1, "unit": "tablet"},
        },
        {
            "type": {"coding": [{"system": kind, "code": "calculated"}]},
            "doseQuantity": {
                "value": dose,
                "unit": "mg",
                "system": "http://unitsofmeasure.org",
                "code": "mg",
            },
        },
    ]


@_each_statement
def dose_range_with_same_lower_bound(res: dict[str, Any]) -> None:
    """doseAndRate.doseRange (R4 Dosage.doseAndRate.dose[x] Range) whose low end is the recorded
    dose: adequacy reads the low end."""
    dose = _dose_mg(res)
    res["dosage"][0]["doseAndRate"] = [
        {"doseRange": {"low": {"value": dose, "unit": "mg"}, "high": {"value": dose * 1.5, "unit": "mg"}}}
    ]


def _split(period: dict[str, str], days: int) -> tuple[dict[str, str], dict[str, str]]:
    mid = (date.fromisoformat(period["start"]) + timedelta(days=days)).isoformat()
    return {"start": period["start"], "end": mid}, {
        "start": mid,
        **({"end": period["end"]} if "end" in period else {}),
    }


@_each_statement
def titration_in_sequenced_dosages(res: dict[str, Any]) -> None:
    """Two dosage instructions ordered by Dosage.sequence, each with its own boundsPeriod: one
    week at half the dose, then the full dose (a titration; the held dose decides adequacy)."""
    period = res.pop("effectivePeriod")
    first, second = _split(period, 7)
    dose = _dose_mg(res)
    base = res["dosage"][0]
    res["dosage"] = [
        {
            "sequence": 1,
            "timing": {"repeat": {**base["timing"]["repeat"], "boundsPeriod": first}},
            "doseAndRate": [{"doseQuantity": {"value": dose / 2, "unit": "mg"}}],
        },
        {
            "sequence": 2,
            "timing": {"repeat": {**base["timing"]["repeat"], "boundsPeriod": second}},
            "doseAndRate": [{"doseQuantity": {"value": dose, "unit": "mg"}}],
        },
    ]


@_each_statement
def titration_as_free_text_sig(res: dict[str, Any]) -> None:
    """The titration above (one week at half the dose, then the full dose) as Dosage.text only, the
    way an Epic or US Core sig carries it ("75 mg daily for 7 days, then 150 mg daily"), with the
    statement's effectivePeriod as the order's dates: the steps are read from the words."""
    dose = _dose_mg(res)
    res["dosage"] = [{"text": f"Take {dose / 2:g} mg by mouth daily for 7 days, then {dose:g} mg daily"}]


def _dispenses(res: dict[str, Any], end: date, days: int = 30) -> Resources:
    name, strength = TABLETS[_drug(res)]
    per_day = _dose_mg(res) / strength
    start = date.fromisoformat(res["effectivePeriod"]["start"])
    out: Resources = []
    while start <= end:
        out.append(
            {
                "resourceType": "MedicationDispense",
                "id": f"{res['id']}-fill-{len(out)}",
                "status": "completed",
                "medicationCodeableConcept": {
                    "coding": [{"system": RXNORM, "code": _product(name), "display": name}]
                },
                "subject": res["subject"],
                "quantity": {"value": per_day * days, "unit": "tablet"},
                "daysSupply": {
                    "value": days,
                    "unit": "day",
                    "system": "http://unitsofmeasure.org",
                    "code": "d",
                },
                "whenHandedOver": f"{start.isoformat()}T10:00:00Z",
            }
        )
        start += timedelta(days=days)
    return out


def current_course_as_dispenses(resources: Resources) -> Resources:
    """The active course only as a pharmacy history: MedicationDispense (whenHandedOver + daysSupply,
    quantity in tablets of the dispensed SCD) every 30 days, the last still covering today."""
    out: Resources = []
    for res in resources:
        if res.get("resourceType") == "MedicationStatement" and res["status"] == "active":
            out += _dispenses(res, date(2025, 6, 2))
        else:
            out.append(res)
    return out


def completed_course_as_order_and_fills(resources: Resources) -> Resources:
    """The stopped course as a pharmacy history: a US Core MedicationRequest `stopped` with its
    statusReason and no dates beyond authoredOn, and the MedicationDispense fills (whenHandedOver +
    daysSupply) that show when it was taken."""
    out: Resources = []
    for res in resources:
        if res.get("resourceType") != "MedicationStatement" or res["status"] != "completed":
            out.append(res)
            continue
        end = date.fromisoformat(res["effectivePeriod"]["end"]) - timedelta(days=30)
        out += _dispenses(res, end)
        out.append(
            {
                "resourceType": "MedicationRequest",
                "id": res["id"],
                "status": "stopped",
                "intent": "order",
                "medicationCodeableConcept": res["medicationCodeableConcept"],
                "subject": res["subject"],
                "authoredOn": res["effectivePeriod"]["start"],
                "statusReason": res["statusReason"][0],
                "dosageInstruction": res["dosage"],
            }
        )
    return out


PRESERVING = [
    Preserving("bounds instead of effectivePeriod", bounds_instead_of_effective_period),
    Preserving("statements as orders with bounds", statements_as_orders),
    Preserving("sig text instead of doseQuantity", sig_text_instead_of_dose_quantity),
    Preserving("Epic-style sig with tablet total", epic_style_sig_with_tablet_total),
    Preserving("tablet count x SCD strength", tablet_count_with_scd_strength),
    Preserving("SCD code without display", scd_code_without_display),
    Preserving("NDC without display", ndc_without_display),
    Preserving("contained Medication", contained_medication),
    Preserving("absolute-URL Medication reference", absolute_url_reference),
    Preserving("identifier-only Medication reference", identifier_only_reference),
    Preserving("Medication known by its ingredient", medication_known_by_ingredient),
    Preserving("timing code QD", timing_code_instead_of_repeat),
    Preserving("timing when MORN", timing_when_morning),
    Preserving("calculated mg beside ordered tablets", calculated_mg_beside_ordered_tablets),
    Preserving("dose range with the same low end", dose_range_with_same_lower_bound),
    Preserving("titration in sequenced dosages", titration_in_sequenced_dosages),
    Preserving("titration as a free-text sig", titration_as_free_text_sig),
    Preserving("current course as dispenses", current_course_as_dispenses),
    Preserving("completed course as a stopped order and its fills", completed_course_as_order_and_fills),
]

# ---- meaning-changing -----------------------------------------------------------------------


def _venlafaxine(resources: Resources) -> dict[str, Any]:
    return next(r for r in _statements(resources) if _drug(r) == "venlafaxine")


def _sertraline(resources: Resources) -> dict[str, Any]:
    return next(r for r in _statements(resources) if _drug(r) == "sertraline")


def active_order_bounds_end_after_two_weeks(resources: Resources) -> Resources:
    """The venlafaxine order (US Core MedicationRequest) stays `active`, its validityPeriod runs to
    the end of the year, but its boundsPeriod ended after 14 days: not ongoing, and a two-week
    course is never an adequate trial."""
    resources = statements_as_orders(resources)
    order = next(r for r in by_type(resources, "MedicationRequest") if r["status"] == "active")
    order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = {
        "start": "2025-01-02",
        "end": "2025-01-16",
    }
    return resources


def taper_below_minimum(resources: Resources) -> Resources:
    """Sertraline 150 mg for 3 weeks, then (sequence 2) 25 mg, below the 50 mg minimum, until the
    stop: only 3 weeks at an adequate dose."""
    res = _sertraline(resources)
    first, second = _split(res.pop("effectivePeriod"), 21)
    rep = res["dosage"][0]["timing"]["repeat"]
    res["dosage"] = [
        {
            "sequence": 1,
            "timing": {"repeat": {**rep, "boundsPeriod": first}},
            "doseAndRate": [{"doseQuantity": {"value": 150, "unit": "mg"}}],
        },
        {
            "sequence": 2,
            "timing": {"repeat": {**rep, "boundsPeriod": second}},
            "doseAndRate": [{"doseQuantity": {"value": 25, "unit": "mg"}}],
        },
    ]
    return resources


def sig_higher_step_lasts_two_weeks(resources: Resources) -> Resources:
    """The current venlafaxine course as a free-text titration sig whose full dose lasts only two
    weeks ("75 mg daily for 7 days, then 150 mg daily for 2 weeks, then stop"): the course ended
    on 2025-01-23, three weeks in all, so it is neither current nor an adequate trial."""
    res = _venlafaxine(resources)
    dose = _dose_mg(res)
    res["dosage"] = [
        {"text": f"{dose / 2:g} mg daily for 7 days, then {dose:g} mg daily for 2 weeks, then stop"}
    ]
    return resources


def dispenses_stop_after_two_weeks(resources: Resources) -> Resources:
    """Venlafaxine only as one 14-day dispense in January: no supply covers today."""
    res = _venlafaxine(resources)
    fills = _dispenses(res, date(2025, 1, 2), days=14)
    return [r for r in resources if r is not res] + fills


def unreadable_product_code(resources: Resources) -> Resources:
    """Sertraline recorded as an RxNorm code the product table does not hold, with no display or
    text: the drug cannot be read, so that trial cannot be settled."""
    res = _sertraline(resources)
    res["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": "99999999"}]}
    return resources


def implausible_venlafaxine_dose(resources: Resources) -> Resources:
    """A unit slip: venlafaxine 150000 mg/day (micrograms recorded as mg) is not a dose."""
    _venlafaxine(resources)["dosage"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 150000
    return resources


def _trial(a: Assessment, drug: str) -> Any:
    return next(t for t in a.indication.trials if t.drug == drug)


def _not_adequate(drug: str) -> Callable[[Assessment, Assessment], None]:
    def check(before: Assessment, after: Assessment) -> None:
        assert before.indication.status == "eligible"
        t = _trial(after, drug)
        assert t.counts_as_failed is False, f"{drug} still counts as a failed trial: {t}"
        assert after.indication.status == "not-eligible", after.indication.status

    return check


def _cannot_tell(before: Assessment, after: Assessment) -> None:
    assert before.indication.status == "eligible"
    assert after.indication.status == "insufficient-data", after.indication.status
    assert after.indication.adequate_failed_trials < before.indication.adequate_failed_trials


CHANGING = [
    Changing(
        "active order whose bounds ended after two weeks",
        active_order_bounds_end_after_two_weeks,
        _not_adequate("venlafaxine"),
    ),
    Changing("taper below the minimum dose", taper_below_minimum, _not_adequate("sertraline")),
    Changing(
        "dispensed supply stopped after two weeks",
        dispenses_stop_after_two_weeks,
        _not_adequate("venlafaxine"),
    ),
    Changing(
        "free-text sig whose higher step lasts two weeks",
        sig_higher_step_lasts_two_weeks,
        _not_adequate("venlafaxine"),
    ),
    Changing("unreadable product code", unreadable_product_code, _cannot_tell),
    Changing("implausible dose", implausible_venlafaxine_dose, _cannot_tell),
]
