"""Terminology re-encodings: SNOMED CT instead of ICD-10-CM, added translations, words without codes."""

from __future__ import annotations

from typing import Any

from tests.metamorphic.harness import Assessment, Changing, Preserving, Resources, by_type, product

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
# ICD-10-CM category -> a SNOMED CT descendant the value set expansion lists (same meaning class).
_SNOMED_FOR = {
    "I71": ("14336007", "Ruptured abdominal aortic aneurysm"),
    "F33": ("66344007", "Recurrent major depression"),
}


def _icd(res: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in res.get("code", {}).get("coding", []) if c.get("system") == ICD10CM), None)


def aneurysm_as_snomed_descendant(resources: Resources) -> Resources:
    # Many EHRs (and all UK/EU ones) code problems in SNOMED CT; a descendant must still match.
    for res in by_type(resources, "Condition"):
        icd = _icd(res)
        if icd and icd["code"].startswith("I71"):
            code, display = _SNOMED_FOR["I71"]
            res["code"] = {"coding": [{"system": SNOMED, "code": code, "display": display}]}
    return resources


def add_snomed_translation(resources: Resources) -> Resources:
    # Epic and Oracle Health send the billing code with a SNOMED CT translation in the same concept.
    for res in by_type(resources, "Condition"):
        icd = _icd(res)
        if icd and icd["code"][:3] in _SNOMED_FOR:
            code, display = _SNOMED_FOR[icd["code"][:3]]
            res["code"]["coding"].append({"system": SNOMED, "code": code, "display": display})
    return resources


def aneurysm_as_text_only(resources: Resources) -> Resources:
    for res in by_type(resources, "Condition"):
        icd = _icd(res)
        if icd and icd["code"].startswith("I71"):
            res["code"] = {"text": "Abdominal aortic aneurysm"}
    return resources


def _add(resources: Resources, res: dict[str, Any]) -> Resources:
    patient = by_type(resources, "Patient")[0]
    res.setdefault("id", f"terminology-{len(resources)}")
    key = "patient" if res["resourceType"] == "AllergyIntolerance" else "subject"
    res[key] = {"reference": f"Patient/{patient['id']}"}
    return [*resources, res]


def add_uncoded_avm(resources: Resources) -> Resources:
    return _add(
        resources,
        {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
            "code": {"text": "AVM of brain"},
            "onsetDateTime": "2015-03-01",
        },
    )


def add_snomed_basal_ganglia_haemorrhage(resources: Resources) -> Resources:
    return _add(
        resources,
        {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "resolved"}]},
            "code": {
                "coding": [{"system": SNOMED, "code": "195165005", "display": "Basal ganglia hemorrhage"}]
            },
            "onsetDateTime": "2012-07-01",
        },
    )


def add_ketamine_substance_allergy(resources: Resources) -> Resources:
    return _add(
        resources,
        {
            "resourceType": "AllergyIntolerance",
            "code": {"coding": [{"system": SNOMED, "code": "373464007", "display": "Ketamine"}]},
        },
    )


def _still_contraindicated_or_held(before: Assessment, after: Assessment) -> None:
    assert product(before, "esketamine") == "contraindicated"
    assert product(after, "esketamine") == "insufficient-data", "an aneurysm in words only passed silently"
    assert product(after, "ketamine-iv") == "insufficient-data"


def _held(before: Assessment, after: Assessment) -> None:
    assert product(before, "esketamine") == "appropriate"
    assert product(after, "esketamine") == "insufficient-data", "an AVM in words only passed silently"


def _contraindicated(before: Assessment, after: Assessment) -> None:
    assert product(before, "esketamine") == "appropriate"
    for name in ("esketamine", "ketamine-iv"):
        assert product(after, name) == "contraindicated", f"{name} not contraindicated"


PRESERVING = [
    Preserving(
        "aneurysm coded as a SNOMED CT descendant (ruptured AAA)",
        aneurysm_as_snomed_descendant,
        ("aneurysm",),
    ),
    Preserving("ICD-10-CM condition with a SNOMED CT translation", add_snomed_translation),
]
CHANGING = [
    Changing(
        "aneurysm recorded as words only",
        aneurysm_as_text_only,
        _still_contraindicated_or_held,
        ("aneurysm",),
    ),
    Changing("uncoded 'AVM of brain' added", add_uncoded_avm, _held),
    Changing(
        "SNOMED CT basal ganglia haemorrhage added", add_snomed_basal_ganglia_haemorrhage, _contraindicated
    ),
    Changing(
        "ketamine allergy coded as a SNOMED CT substance", add_ketamine_substance_allergy, _contraindicated
    ),
]
