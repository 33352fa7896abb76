"""Assessments and CDS Hooks requests for the service tests."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from cds.contract.assessment import (
    Assessment,
    Citation,
    EsketamineDosing,
    Finding,
    Indication,
    IndicationRule,
    KetamineIvDosing,
    PatientSummary,
    Product,
    RulesetInfo,
    ScheduleStep,
    Trial,
)

PATIENT_ID = "pat-1"
BASE_URL = "https://cds.test"
FHIR_BASE = "https://ehr.test/fhir"  # the FHIR server the test client may name (its allow-list)
GOOD_TOKEN = "Bearer good-token"
RULESET = "test-ruleset-1"
CITATION = Citation(label="SPRAVATO prescribing information", url="https://example.org/spravato-pi")


# --- assessments ------------------------------------------------------------------------------


def finding(
    rule: str,
    concept: str,
    *,
    category: str = "precaution",
    severity: str = "relative",
    applies_to: tuple[str, ...] = ("esketamine", "ketamine-iv"),
    evidence: tuple[str, ...] = ("Condition/c1",),
    summary: str | None = None,
    obtain: str | None = None,
    blocks: bool = False,
) -> Finding:
    return Finding(
        rule=rule,
        rule_version="1.0.0",
        category=category,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        concept=concept,
        applies_to=list(applies_to),  # type: ignore[arg-type]
        summary=summary or f"{concept.replace('-', ' ').capitalize()}: {category}",
        detail=f"Detail of {rule}.",
        evidence=list(evidence),
        citation=CITATION,
        obtain=obtain,
        blocks=blocks,
    )


ESK_SCHEDULE = [
    ScheduleStep(phase="induction", weeks="1-4", frequency="twice weekly", dose_mg=[56, 84]),
    ScheduleStep(phase="maintenance", weeks="5-8", frequency="weekly", dose_mg=[56, 84]),
]


def make_assessment(
    *,
    findings: list[Finding] | None = None,
    esketamine: str = "appropriate",
    ketamine_iv: str = "appropriate",
    start_dose_mg: float = 56,
    iv_dose_mg: float | None = 34.0,
    status: str = "eligible",
    trials: int = 2,
    profile: str = "us-fda",
    patient_id: str = PATIENT_ID,
) -> Assessment:
    trial_list = [
        Trial(
            drug=drug,
            daily_dose_mg=150,
            weeks=8,
            in_current_episode=True,
            adequate_dose=True,
            adequate_duration=True,
            outcome="failed",
            evidence=[f"MedicationRequest/{drug}"],
        )
        for drug in ("sertraline", "venlafaxine", "bupropion")[:trials]
    ]
    esk_dosing = (
        None
        if esketamine == "not-indicated"
        else EsketamineDosing(start_dose_mg=start_dose_mg, schedule=ESK_SCHEDULE)
    )
    iv_dosing = None
    if ketamine_iv != "not-indicated" and iv_dose_mg is not None:
        iv_dosing = KetamineIvDosing(
            dose_mg_per_kg=0.5,
            weight_kg=iv_dose_mg * 2,
            weight_basis="actual",
            dose_mg=iv_dose_mg,
            infusion_minutes=40,
            schedule=[ScheduleStep(phase="induction", weeks="1-3", frequency="2-3 times weekly", count=6)],
        )
    return Assessment(
        patient=PatientSummary(id=f"Patient/{patient_id}", age=45, sex="female"),
        as_of=date(2025, 6, 2),
        profile=profile,  # type: ignore[arg-type]
        ruleset=RulesetInfo(version=RULESET),
        indication=Indication(
            status=status,  # type: ignore[arg-type]
            pathway="trd" if status == "eligible" else None,
            adequate_failed_trials=trials,
            trials=trial_list,
            reasons=[f"{trials} adequate antidepressant trials failed in the current episode."],
            rules=[
                IndicationRule(
                    rule="indication.trd",
                    rule_version="1.0.0",
                    status=status,  # type: ignore[arg-type]
                    reason="TRD criteria checked",
                    evidence=["Condition/mdd"],
                    citation=CITATION,
                )
            ],
        ),
        products=[
            Product(product="esketamine", verdict=esketamine, dosing=esk_dosing),  # type: ignore[arg-type]
            Product(product="ketamine-iv", verdict=ketamine_iv, dosing=iv_dosing),  # type: ignore[arg-type]
        ],
        findings=findings or [],
    )


# --- request builders ---------------------------------------------------------------------------


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def patient_resource(patient_id: str = PATIENT_ID) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": patient_id, "gender": "female", "birthDate": "1980-01-01"}


def full_prefetch(patient_id: str = PATIENT_ID) -> dict[str, Any]:
    from cds.service.catalog import PREFETCH

    out: dict[str, Any] = {q.key: searchset() for q in PREFETCH}
    out["patient"] = patient_resource(patient_id)
    out["conditions"] = searchset(
        {
            "resourceType": "Condition",
            "id": "mdd",
            "subject": {"reference": f"Patient/{patient_id}"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "370143000"}]},
        }
    )
    return out


def patient_view_request(prefetch: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/dr-1", "patientId": PATIENT_ID},
        "prefetch": full_prefetch() if prefetch is None else prefetch,
    }
    body.update(extra)
    return body


def medication_request(
    mr_id: str = "draft-1",
    *,
    text: str | None = None,
    rxnorm: str | None = "2201625",
    display: str = "esketamine 28 MG Nasal Spray [Spravato]",
    dose_mg: float | None = 56,
    unit: str = "mg",
    route: str | None = None,
) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if rxnorm:
        concept["coding"] = [
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": rxnorm, "display": display}
        ]
    if text:
        concept["text"] = text
    dosage: dict[str, Any] = {"text": "as directed"}
    if dose_mg is not None:
        dosage["doseAndRate"] = [
            {
                "doseQuantity": {
                    "value": dose_mg,
                    "unit": unit,
                    "system": "http://unitsofmeasure.org",
                    "code": unit,
                }
            }
        ]
    if route == "iv":
        dosage["route"] = {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "47625008", "display": "Intravenous route"}
            ]
        }
    elif route:
        dosage["route"] = {"text": route}
    return {
        "resourceType": "MedicationRequest",
        "id": mr_id,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "dosageInstruction": [dosage],
    }


def order_request(
    *drafts: dict[str, Any],
    hook: str = "order-sign",
    prefetch: dict[str, Any] | None = None,
    selections: list[str] | None = None,
    bundle_type: str | None = "collection",
) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "entry": [{"resource": copy.deepcopy(d)} for d in drafts],
    }
    if bundle_type:
        bundle["type"] = bundle_type
    context: dict[str, Any] = {"userId": "Practitioner/dr-1", "patientId": PATIENT_ID, "draftOrders": bundle}
    if hook == "order-select":
        context["selections"] = selections or [f"MedicationRequest/{d['id']}" for d in drafts]
    return {
        "hook": hook,
        "hookInstance": "4d7a7c07-5d3c-4d7f-8d56-a53c9d5e0f11",
        "context": context,
        "prefetch": full_prefetch() if prefetch is None else prefetch,
    }
