"""Clinical content (issue 13 items 4-12): the same chart with one clinical fact changed must
change the answer the stated way; the chart's own wording must not change any decision."""

from __future__ import annotations

from typing import Any

from tests.metamorphic.harness import Assessment, Changing, Preserving, Resources, by_type, product

LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
AS_OF = "2025-06-02"


def _patient_ref(resources: Resources) -> dict[str, str]:
    return {"reference": f"Patient/{by_type(resources, 'Patient')[0]['id']}"}


def _code(r: dict[str, Any]) -> str:
    return str(r["code"]["coding"][0]["code"])


def condition_reworded(resources: Resources) -> Resources:
    """The EHR's own display for the MDD code (e.g. a local problem-list term): cards quote it,
    decisions do not depend on it."""
    for r in by_type(resources, "Condition"):
        for coding in r["code"]["coding"]:
            coding["display"] = "Recurrent depression (problem list, reviewed by Dr A)"
    return resources


def bp_at_the_stop_threshold(resources: Resources) -> Resources:
    """The latest pre-dose reading is 182/96 (do not dose today at 180/100)."""
    for r in by_type(resources, "Observation"):
        if _code(r) == "85354-9":
            r["effectiveDateTime"] = "2025-06-01"
            for comp in r["component"]:
                is_systolic = comp["code"]["coding"][0]["code"] == "8480-6"
                comp["valueQuantity"]["value"] = 182 if is_systolic else 96
    return resources


def active_hypertensive_emergency(resources: Resources) -> Resources:
    """An active ICD-10-CM I16.1 (hypertensive emergency) recorded two days ago."""
    resources.append(
        {
            "resourceType": "Condition",
            "id": "htn-emergency",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "code": {"coding": [{"system": ICD10CM, "code": "I16.1", "display": "Hypertensive emergency"}]},
            "subject": _patient_ref(resources),
            "onsetDateTime": "2025-05-31",
        }
    )
    return resources


def suicide_history_code(resources: Resources) -> Resources:
    """A history code Z91.51 (personal history of suicidal behaviour) added to the TRD chart."""
    resources.append(
        {
            "resourceType": "Condition",
            "id": "si-history",
            "code": {"coding": [{"system": ICD10CM, "code": "Z91.51"}]},
            "subject": _patient_ref(resources),
            "onsetDateTime": "2018-02-01",
        }
    )
    return resources


def responding_phq9(resources: Resources) -> Resources:
    """The latest PHQ-9 on the ongoing venlafaxine is 6: the trial is working, not failing."""
    for r in by_type(resources, "Observation"):
        if _code(r) == "44261-6":
            if "valueQuantity" in r:
                r["valueQuantity"]["value"] = 6
            else:
                r["valueInteger"] = 6
    return resources


def _si_history_precaution_only(before: Assessment, after: Assessment) -> None:
    rules = {f.rule for f in after.findings} | {r.rule for r in after.indication.rules}
    assert "precaution.suicidal-ideation" in rules, sorted(rules)
    assert (
        "indication.suicidal-ideation.met" not in rules and "dosing.esketamine.suicidal-ideation" not in rules
    )
    assert after.indication.pathway == before.indication.pathway == "trd"


def _stop_today(before: Assessment, after: Assessment) -> None:
    assert product(before, "esketamine") != "contraindicated"
    assert product(after, "esketamine") == "contraindicated", after.findings
    assert product(after, "ketamine-iv") == "contraindicated"


def _ongoing_trial_not_failed(before: Assessment, after: Assessment) -> None:
    assert before.indication.status == "eligible"
    assert after.indication.status == "not-eligible", after.indication.reasons
    venlafaxine = next(t for t in after.indication.trials if t.drug == "venlafaxine")
    assert venlafaxine.counts_as_failed is False


PRESERVING = [
    Preserving("condition display reworded by the EHR", condition_reworded),
]

CHANGING = [
    Changing("BP 182/96 before dosing", bp_at_the_stop_threshold, _stop_today),
    Changing("active hypertensive emergency I16.1", active_hypertensive_emergency, _stop_today),
    Changing("history code Z91.51", suicide_history_code, _si_history_precaution_only),
    Changing("PHQ-9 of 6 on the ongoing trial", responding_phq9, _ongoing_trial_not_failed),
]
