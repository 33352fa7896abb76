"""Build FHIR R4 patients in code: for tests, the example patients and benchmarks.

Everything produced is plain FHIR JSON (a collection Bundle) so that tests exercise the whole
pipeline: parsing, validation, facts, rules. Deterministic: ids come from a counter.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from typing import Any

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
OUTCOME = "http://ketamine-cds.org/fhir/CodeSystem/trial-outcome"
VITALS = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
    ]
}
INGREDIENTS = {
    "sertraline": "36437",
    "fluoxetine": "4493",
    "escitalopram": "321988",
    "citalopram": "2556",
    "venlafaxine": "39786",
    "duloxetine": "72625",
    "bupropion": "42347",
    "mirtazapine": "15996",
    "paroxetine": "32937",
    "aripiprazole": "89013",
    "lithium carbonate": "42351",
    "alprazolam": "596",
    "diazepam": "3322",
    "lorazepam": "6470",
    "oxycodone": "7804",
    "methylphenidate": "6901",
    "phenelzine": "8123",
    "memantine": "6719",
    "theophylline": "10438",
    "lamotrigine": "28439",
    "lisinopril": "29046",
    "clonazepam": "2598",
    "ketamine": "6130",
    "quetiapine": "51272",
    "olanzapine": "61381",
    "tranylcypromine": "10734",
    "aminophylline": "689",
}
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _d(value: date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


@dataclass
class PatientBuilder:
    birth_date: date | str
    gender: str = "female"
    pid: str = "example"
    resources: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    race_extension: list[dict[str, Any]] | None = None

    def _id(self, prefix: str) -> str:
        return f"{self.pid}-{prefix}{next(self._ids)}"

    @property
    def ref(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.pid}"}

    def condition(
        self,
        code: str,
        *,
        system: str = ICD10,
        display: str | None = None,
        onset: date | str | None = None,
        status: str = "active",
        abatement: date | str | None = None,
        recorded: date | str | None = None,
    ) -> str:
        res: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self._id("cond"),
            "subject": self.ref,
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": status}]},
            "code": {
                "coding": [{"system": system, "code": code, **({"display": display} if display else {})}]
            },
        }
        if onset:
            res["onsetDateTime"] = _d(onset)
        if abatement:
            res["abatementDateTime"] = _d(abatement)
        if recorded:
            res["recordedDate"] = _d(recorded)
        self.resources.append(res)
        return f"Condition/{res['id']}"

    def medication(
        self,
        drug: str,
        *,
        start: date | str | None,
        end: date | str | None = None,
        mg: float | None = None,
        per_day: int = 1,
        status: str | None = None,
        stop_reason: str | None = None,
        text_only: bool = False,
        kind: str = "MedicationStatement",
        unit: str = "mg",
    ) -> str:
        concept: dict[str, Any] = (
            {"text": drug}
            if text_only
            else {"coding": [{"system": RXNORM, "code": INGREDIENTS[drug], "display": drug}]}
        )
        status = status or ("active" if end is None else "completed")
        res: dict[str, Any] = {
            "resourceType": kind,
            "id": self._id("med"),
            "status": status,
            "medicationCodeableConcept": concept,
        }
        dosage: dict[str, Any] = {
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}
        }
        if mg is not None:
            dosage["doseAndRate"] = [
                {
                    "doseQuantity": {
                        "value": mg,
                        "unit": unit,
                        "system": "http://unitsofmeasure.org",
                        "code": unit,
                    }
                }
            ]
        if kind == "MedicationStatement":
            res["subject"] = self.ref
            res["effectivePeriod"] = {k: v for k, v in (("start", _d(start)), ("end", _d(end))) if v}
            res["dosage"] = [dosage]
        else:
            res["subject"] = self.ref
            res["intent"] = "order"
            if start:
                res["authoredOn"] = _d(start)
            if end:
                res["dispenseRequest"] = {"validityPeriod": {"start": _d(start), "end": _d(end)}}
            res["dosageInstruction"] = [dosage]
        if stop_reason:
            res["statusReason"] = (
                [{"text": stop_reason}] if kind == "MedicationStatement" else {"text": stop_reason}
            )
        self.resources.append(res)
        return f"{kind}/{res['id']}"

    def observation(
        self,
        code: str,
        when: date | str,
        *,
        value: float | None = None,
        unit: str = "",
        components: list[tuple[str, float, str]] | None = None,
        answer: tuple[str, str] | None = None,
        system: str = LOINC,
        vital: bool = True,
    ) -> str:
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self._id("obs"),
            "status": "final",
            "subject": self.ref,
            "code": {"coding": [{"system": system, "code": code}]},
            "effectiveDateTime": _d(when),
        }
        if vital:
            res["category"] = [VITALS]
        if value is not None:
            res["valueQuantity"] = {
                "value": value,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            }
        if components:
            res["component"] = [
                {
                    "code": {"coding": [{"system": LOINC, "code": c}]},
                    "valueQuantity": {
                        "value": v,
                        "unit": u,
                        "system": "http://unitsofmeasure.org",
                        "code": u,
                    },
                }
                for c, v, u in components
            ]
        if answer:
            res["valueCodeableConcept"] = {"coding": [{"system": answer[0], "code": answer[1]}]}
        self.resources.append(res)
        return f"Observation/{res['id']}"

    def blood_pressure(self, when: date | str, systolic: float, diastolic: float) -> str:
        return self.observation(
            "85354-9", when, components=[("8480-6", systolic, "mm[Hg]"), ("8462-4", diastolic, "mm[Hg]")]
        )

    def weight(self, when: date | str, kg: float) -> str:
        return self.observation("29463-7", when, value=kg, unit="kg")

    def height(self, when: date | str, cm: float) -> str:
        return self.observation("8302-2", when, value=cm, unit="cm")

    def pregnancy_test(self, when: date | str, positive: bool) -> str:
        return self.observation(
            "82810-3", when, answer=(LOINC, "LA15173-0" if positive else "LA26683-5"), vital=False
        )

    def phq9(self, when: date | str, score: float) -> str:
        return self.observation("44261-6", when, value=score, unit="{score}", vital=False)

    def allergy(self, code: str, display: str) -> str:
        res = {
            "resourceType": "AllergyIntolerance",
            "id": self._id("allergy"),
            "patient": self.ref,
            "code": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                        "code": "confirmed",
                    }
                ]
            },
        }
        self.resources.append(res)
        return f"AllergyIntolerance/{res['id']}"

    def procedure(self, code: str, when: date | str, system: str = SNOMED) -> str:
        res = {
            "resourceType": "Procedure",
            "id": self._id("proc"),
            "status": "completed",
            "subject": self.ref,
            "code": {"coding": [{"system": system, "code": code}]},
            "performedDateTime": _d(when),
        }
        self.resources.append(res)
        return f"Procedure/{res['id']}"

    def bundle(self) -> dict[str, Any]:
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.pid,
            "gender": self.gender,
            "birthDate": _d(self.birth_date),
        }
        if self.race_extension:
            patient["extension"] = self.race_extension
        entries = [patient, *self.resources]
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries],
        }


JAPANESE_RACE = [
    {
        "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
        "extension": [
            {
                "url": "ombCategory",
                "valueCoding": {
                    "system": "urn:oid:2.16.840.1.113883.6.238",
                    "code": "2028-9",
                    "display": "Asian",
                },
            },
            {
                "url": "detailed",
                "valueCoding": {
                    "system": "urn:oid:2.16.840.1.113883.6.238",
                    "code": "2039-6",
                    "display": "Japanese",
                },
            },
            {"url": "text", "valueString": "Japanese"},
        ],
    }
]


def trd_patient(
    pid: str = "trd",
    *,
    birth: str = "1980-03-14",
    gender: str = "female",
    vitals_on: str = "2025-05-28",
    weight_kg: float = 68,
    height_cm: float = 165,
) -> PatientBuilder:
    """A clear TRD patient evaluated on 2025-06-02: recurrent MDD since September 2024, sertraline
    150 mg then venlafaxine 150 mg, each failed after ≥ 6 weeks; recent BP, weight, negative hCG."""
    p = PatientBuilder(birth_date=birth, gender=gender, pid=pid)
    p.condition("F33.1", display="Major depressive disorder, recurrent, moderate", onset="2024-09-01")
    p.medication("sertraline", start="2024-09-15", end="2024-12-15", mg=150, stop_reason="lack of efficacy")
    p.medication("venlafaxine", start="2025-01-02", end=None, mg=150)
    p.blood_pressure(vitals_on, 128, 82)
    p.weight(vitals_on, weight_kg)
    p.height(vitals_on, height_cm)
    if gender == "female":
        p.pregnancy_test(vitals_on, positive=False)
    p.phq9(vitals_on, 19)
    return p
