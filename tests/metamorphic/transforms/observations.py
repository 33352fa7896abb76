"""Observation shapes: blood pressure, body weight, pregnancy status and hCG, pregnancy conditions.

Each function names the specification or public documentation its shape comes from."""

from __future__ import annotations

from typing import Any

from tests.metamorphic.harness import Assessment, Changing, Preserving, Resources, by_type, product

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def _code(r: dict[str, Any]) -> str:
    return str(r["code"]["coding"][0]["code"])


def _obs(resources: Resources, code: str) -> list[dict[str, Any]]:
    return [r for r in by_type(resources, "Observation") if _code(r) == code]


def _patient_ref(resources: Resources) -> dict[str, str]:
    return {"reference": f"Patient/{by_type(resources, 'Patient')[0]['id']}"}


def bp_panel_55284(resources: Resources) -> Resources:
    """Synthea R4 (shared/fhir-samples/synthea-r4) and C-CDA vital signs code the panel as LOINC
    55284-4 "Blood pressure systolic and diastolic" with the same two components."""
    for r in _obs(resources, "85354-9"):
        r["code"] = {
            "coding": [
                {"system": LOINC, "code": "55284-4", "display": "Blood pressure systolic and diastolic"}
            ]
        }
    return resources


def _split(resources: Resources, offset_minutes: int, with_time: bool) -> Resources:
    out: Resources = []
    for r in resources:
        if r.get("resourceType") != "Observation" or _code(r) != "85354-9":
            out.append(r)
            continue
        day = r["effectiveDateTime"]
        for i, comp in enumerate(r["component"]):
            when = f"{day}T09:{10 + i * offset_minutes:02d}:00Z" if with_time else day
            out.append(
                {
                    "resourceType": "Observation",
                    "id": f"{r['id']}-{i}",
                    "status": r["status"],
                    "category": r.get("category", []),
                    "code": comp["code"],
                    "subject": r["subject"],
                    "effectiveDateTime": when,
                    "valueQuantity": comp["valueQuantity"],
                }
            )
    return out


def bp_separate_results(resources: Resources) -> Resources:
    """FHIR R4 vital signs result value set (observation-vitalsignresult) lists 8480-6 and 8462-4 as
    results of their own; HL7 v2-fed EHR interfaces send them as two OBX, hence two Observations of
    the same day."""
    return _split(resources, 0, with_time=False)


def bp_separate_minutes_apart(resources: Resources) -> Resources:
    """The same two results charted two minutes apart (effectiveDateTime with a clock time, FHIR R4
    dateTime with offset): within the 5-minute pairing tolerance (rules/settings.yaml)."""
    return _split(resources, 2, with_time=True)


def _weights(resources: Resources, factor: float, code: str, unit: str) -> Resources:
    for r in _obs(resources, "29463-7"):
        kg = r["valueQuantity"]["value"]
        r["valueQuantity"] = {"value": round(kg / factor, 4), "unit": unit, "system": UCUM, "code": code}
    return resources


def weight_in_pounds(resources: Resources) -> Resources:
    """US Core Body Weight / FHIR R4 bodyweight profile: UCUM code kg, g or [lb_av]."""
    return _weights(resources, 0.45359237, "[lb_av]", "lb")


def weight_in_grams(resources: Resources) -> Resources:
    """FHIR R4 bodyweight profile: UCUM code g."""
    return _weights(resources, 0.001, "g", "g")


def weight_in_ounces(resources: Resources) -> Resources:
    """FHIR body weight units binding (build.fhir.org/bodyweight.html: g | kg | [lb_av] | [oz_av]);
    EHR vitals flowsheets chart infant and adult weights in ounces."""
    return _weights(resources, 0.028349523125, "[oz_av]", "oz")


def weight_ucum_in_unit_only(resources: Resources) -> Resources:
    """A Quantity with the UCUM unit in `unit` and no system/code (FHIR R4 Quantity: code and system
    are optional)."""
    for r in _obs(resources, "29463-7"):
        r["valueQuantity"] = {"value": r["valueQuantity"]["value"], "unit": "kg"}
    return resources


def pregnancy_status_snomed(resources: Resources) -> Resources:
    """IPS pregnancy status value set (hl7.org/fhir/uv/ips/ValueSet-pregnancy-status-uv-ips): SNOMED
    60001007 Not pregnant / 77386006 Pregnant instead of the LOINC LA answers."""
    for r in _obs(resources, "82810-3"):
        la = r["valueCodeableConcept"]["coding"][0]["code"]
        code = {"LA26683-5": ("60001007", "Not pregnant"), "LA15173-0": ("77386006", "Pregnant")}[la]
        r["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": code[0], "display": code[1]}]}
    return resources


def _negative_test(resources: Resources, change: dict[str, Any]) -> Resources:
    for r in _obs(resources, "82810-3"):
        if r["valueCodeableConcept"]["coding"][0]["code"] != "LA26683-5":
            continue
        r.pop("valueCodeableConcept")
        r.update(change)
    return resources


def urine_hcg_text_negative(resources: Resources) -> Resources:
    """IBCM pregnancy test example (hl7.org/fhir/uv/ibcm Observation-uc3-pregnancytest): LOINC 2106-3
    urine hCG; here with the result as text, as lab feeds send "Negative"."""
    return _negative_test(
        resources, {"code": {"coding": [{"system": LOINC, "code": "2106-3"}]}, "valueString": "Negative"}
    )


def urine_hcg_coded_negative(resources: Resources) -> Resources:
    """LOINC answer list for 2106-3 (LA6577-6 Negative)."""
    return _negative_test(
        resources,
        {
            "code": {"coding": [{"system": LOINC, "code": "2106-3"}]},
            "valueCodeableConcept": {
                "coding": [{"system": LOINC, "code": "LA6577-6", "display": "Negative"}]
            },
        },
    )


def serum_hcg_quantity_negative(resources: Resources) -> Resources:
    """Quantitative serum beta-hCG (LOINC 21198-7, VSAC Pregnancy Test value set) in UCUM m[IU]/mL:
    2 is below the 5 IU/L negative threshold."""
    return _negative_test(
        resources,
        {
            "code": {"coding": [{"system": LOINC, "code": "21198-7"}]},
            "valueQuantity": {"value": 2, "unit": "mIU/mL", "system": UCUM, "code": "m[IU]/mL"},
        },
    )


def serum_hcg_below_detection(resources: Resources) -> Resources:
    """FHIR R4 Quantity.comparator "<": labs report "< 1.0 IU/L" below the assay's detection limit."""
    return _negative_test(
        resources,
        {
            "code": {"coding": [{"system": LOINC, "code": "19080-1"}]},
            "valueQuantity": {
                "value": 1,
                "comparator": "<",
                "unit": "IU/L",
                "system": UCUM,
                "code": "[IU]/L",
            },
        },
    )


def all_observation_shapes_together(resources: Resources) -> Resources:
    """The re-encodings above at once, as one EHR export might carry them: BP as separate timed
    results, weight in ounces, pregnancy status in SNOMED CT."""
    for fn in (bp_separate_minutes_apart, weight_in_ounces, pregnancy_status_snomed):
        resources = fn(resources)
    return resources


WOMEN = ("trd-eligible", "aneurysm")
PRESERVING = [
    Preserving("BP panel coded 55284-4", bp_panel_55284),
    Preserving("BP as separate systolic and diastolic results", bp_separate_results),
    Preserving("BP as separate results 2 minutes apart", bp_separate_minutes_apart),
    Preserving("weight in [lb_av]", weight_in_pounds),
    Preserving("weight in g", weight_in_grams),
    Preserving("weight in [oz_av]", weight_in_ounces),
    Preserving("weight unit in Quantity.unit only", weight_ucum_in_unit_only),
    Preserving("pregnancy status in SNOMED CT", pregnancy_status_snomed, WOMEN),
    Preserving("urine hCG negative as text", urine_hcg_text_negative, WOMEN),
    Preserving("urine hCG negative as LOINC answer", urine_hcg_coded_negative, WOMEN),
    Preserving("serum hCG 2 m[IU]/mL", serum_hcg_quantity_negative, WOMEN),
    Preserving("serum hCG < 1 IU/L", serum_hcg_below_detection, WOMEN),
    Preserving("observation shapes combined", all_observation_shapes_together),
]


# ---- meaning-changing ---------------------------------------------------------------------------


def positive_quantitative_hcg(resources: Resources) -> Resources:
    """Serum hCG 1,200 m[IU]/mL (21198-7) two days before the evaluation: at or above 25 IU/L."""
    return _negative_test(
        resources,
        {
            "code": {"coding": [{"system": LOINC, "code": "21198-7"}]},
            "valueQuantity": {"value": 1200, "unit": "mIU/mL", "system": UCUM, "code": "m[IU]/mL"},
        },
    )


def indeterminate_hcg(resources: Resources) -> Resources:
    """Serum hCG 12 IU/L: between the 5 and 25 IU/L thresholds."""
    return _negative_test(
        resources,
        {
            "code": {"coding": [{"system": LOINC, "code": "19080-1"}]},
            "valueQuantity": {"value": 12, "unit": "IU/L", "system": UCUM, "code": "[IU]/L"},
        },
    )


def hcg_in_unknown_unit(resources: Resources) -> Resources:
    """Serum hCG 2 with a unit that is not UCUM ("mIU/mL" without a code): cannot be read."""
    return _negative_test(
        resources,
        {
            "code": {"coding": [{"system": LOINC, "code": "21198-7"}]},
            "valueQuantity": {"value": 2, "unit": "mIU/mL"},
        },
    )


def undated_pregnancy_condition(resources: Resources) -> Resources:
    """US Core Condition with clinicalStatus active and no onset or recordedDate (both optional in
    FHIR R4), coded SNOMED 77386006 Pregnant."""
    resources.append(
        {
            "resourceType": "Condition",
            "id": "preg-undated",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "code": {"coding": [{"system": SNOMED, "code": "77386006", "display": "Pregnant"}]},
            "subject": _patient_ref(resources),
        }
    )
    return resources


def pregnancy_chapter_code(resources: Resources) -> Resources:
    """ICD-10-CM chapter 15: O24.419 Gestational diabetes mellitus in pregnancy, active (Epic problem
    list entries carry ICD-10-CM codings)."""
    resources.append(
        {
            "resourceType": "Condition",
            "id": "gdm",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "code": {"coding": [{"system": ICD10CM, "code": "O24.419"}]},
            "subject": _patient_ref(resources),
            "onsetDateTime": "2025-04-01",
        }
    )
    return resources


def puerperium_after_the_test(resources: Resources) -> Resources:
    """ICD-10-CM O90.89 (complications of the puerperium) recorded after the last negative test."""
    resources.append(
        {
            "resourceType": "Condition",
            "id": "puerperium",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "code": {"coding": [{"system": ICD10CM, "code": "O90.89"}]},
            "subject": _patient_ref(resources),
            "onsetDateTime": "2025-05-30",
        }
    )
    return resources


def elevated_bp_as_separate_results(resources: Resources) -> Resources:
    """158/96 as two results (8480-6, 8462-4) at the same instant, after the normal panel."""
    ref = _patient_ref(resources)
    for i, (code, value) in enumerate((("8480-6", 158), ("8462-4", 96))):
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"bp-high-{i}",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": code}]},
                "subject": ref,
                "effectiveDateTime": "2025-05-30T10:15:00-05:00",
                "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            }
        )
    return resources


def weight_unit_not_ucum(resources: Resources) -> Resources:
    """Weight 150 "lbs" with no UCUM code ("lbs" is not UCUM): the unit cannot be read."""
    for r in _obs(resources, "29463-7"):
        r["valueQuantity"] = {"value": 150, "unit": "lbs"}
    return resources


def weight_ounces_coded_as_kg(resources: Resources) -> Resources:
    """2,398 "kg": an ounce value (68 kg) under the kg code, the source of a 1,199 mg IV dose."""
    for r in _obs(resources, "29463-7"):
        r["valueQuantity"] = {"value": 2398, "unit": "kg", "system": UCUM, "code": "kg"}
    return resources


def _contraindicated(before: Assessment, after: Assessment) -> None:
    assert product(before, "esketamine") != "contraindicated"
    assert product(after, "esketamine") == "contraindicated", "pregnancy not seen"
    assert "contraindication.pregnancy" in {f.rule for f in after.findings}


def _pregnancy_gap(before: Assessment, after: Assessment) -> None:
    assert product(before, "esketamine") == "appropriate"
    assert product(after, "esketamine") == "insufficient-data", "an unsettled pregnancy status cleared"
    assert "data-gap.pregnancy-status" in {f.rule for f in after.findings}


def _elevated_bp(before: Assessment, after: Assessment) -> None:
    assert product(before, "esketamine") == "appropriate"
    assert product(after, "esketamine") == "use-with-caution"
    assert "precaution.elevated-blood-pressure" in {f.rule for f in after.findings}


def _no_iv_dose(before: Assessment, after: Assessment) -> None:
    iv = next(p for p in after.products if p.product == "ketamine-iv")
    assert next(p for p in before.products if p.product == "ketamine-iv").dosing is not None
    assert iv.dosing is None, f"a dose computed on an unusable weight: {iv.dosing}"
    assert iv.verdict == "insufficient-data"
    assert "data-gap.weight" in {f.rule for f in after.findings}


CHANGING = [
    Changing("positive quantitative hCG", positive_quantitative_hcg, _contraindicated),
    Changing("indeterminate quantitative hCG", indeterminate_hcg, _pregnancy_gap),
    Changing("hCG in a unit that is not UCUM", hcg_in_unknown_unit, _pregnancy_gap),
    Changing("active pregnancy condition with no dates", undated_pregnancy_condition, _contraindicated),
    Changing("active ICD-10-CM O24.419", pregnancy_chapter_code, _contraindicated),
    Changing("puerperium code after the last test", puerperium_after_the_test, _pregnancy_gap),
    Changing("BP 158/96 as separate results", elevated_bp_as_separate_results, _elevated_bp),
    Changing("weight in 'lbs' (not UCUM)", weight_unit_not_ucum, _no_iv_dose),
    Changing("weight 2,398 kg (implausible)", weight_ounces_coded_as_kg, _no_iv_dose),
]
