"""Seeded synthetic patients for the benchmark: Synthea-shaped records of any size, and Bulk Data
exports (NDJSON per resource type) of any population.

The clinical core comes from `cds.synthetic.PatientBuilder` (conditions, antidepressant trials,
vitals, PHQ-9, pregnancy tests), dated relative to `as_of` so the same records stay current on
any day; around it sit the resources a real record carries that no fact reads (Encounters,
Claims, ExplanationOfBenefits, Immunizations, DiagnosticReports, routine labs and vitals),
shaped like Synthea's but without narrative. Same seed, same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from cds.synthetic import LOINC, SNOMED, PatientBuilder

ANTIDEPRESSANTS = [
    ("sertraline", 150),
    ("fluoxetine", 40),
    ("escitalopram", 20),
    ("venlafaxine", 150),
    ("duloxetine", 60),
    ("bupropion", 300),
    ("mirtazapine", 30),
]
OTHER_DRUGS = ["lisinopril", "alprazolam", "oxycodone", "lamotrigine", "aripiprazole"]
# Conditions that feed rules (contraindications, precautions) and plenty that do not.
RULED_CONDITIONS = [
    ("I10", "Essential (primary) hypertension"),
    ("F31.9", "Bipolar disorder, unspecified"),
    ("I67.1", "Cerebral aneurysm, nonruptured"),
    ("I21.9", "Acute myocardial infarction"),
]
OTHER_CONDITIONS = [
    ("J06.9", "Acute upper respiratory infection"),
    ("E78.5", "Hyperlipidemia"),
    ("M54.5", "Low back pain"),
    ("K21.9", "Gastro-esophageal reflux disease"),
    ("J30.9", "Allergic rhinitis"),
    ("E66.9", "Obesity"),
]
LABS = [
    ("2339-0", "Glucose", "mg/dL", 70, 140),
    ("2160-0", "Creatinine", "mg/dL", 0.6, 1.3),
    ("6690-2", "Leukocytes", "10*3/uL", 4, 11),
    ("718-7", "Hemoglobin", "g/dL", 11, 17),
    ("8867-4", "Heart rate", "/min", 55, 100),
    ("9279-1", "Respiratory rate", "/min", 12, 20),
]
_FILLER_TYPES = (
    "Encounter",
    "Claim",
    "ExplanationOfBenefit",
    "Immunization",
    "DiagnosticReport",
    "Observation",
)


def patient(seed: int, pid: str, as_of: date, resources: int = 300) -> dict[str, Any]:
    """One collection Bundle of about `resources` resources (at least the clinical core)."""
    rng = random.Random(seed)
    age = rng.randint(16, 80)
    gender = rng.choice(["female", "male"])
    birth = as_of - timedelta(days=age * 365 + rng.randint(0, 364))
    b = PatientBuilder(birth_date=birth, gender=gender, pid=pid)

    def ago(days: int) -> date:
        return as_of - timedelta(days=days)

    onset = rng.randint(120, 900)
    b.condition("F33.1", display="Major depressive disorder, recurrent, moderate", onset=ago(onset))
    day = onset - rng.randint(5, 30)
    for drug, mg in rng.sample(ANTIDEPRESSANTS, rng.choice([0, 1, 2, 2, 3])):
        weeks = rng.choice([3, 6, 8, 12])
        end: date | None = ago(max(day - weeks * 7, 0)) if day - weeks * 7 > 10 else None
        b.medication(
            drug,
            start=ago(day),
            end=end,
            mg=rng.choice([mg, mg // 2]),
            stop_reason=rng.choice([None, "lack of efficacy", "side effects"]) if end else None,
        )
        day = max(day - weeks * 7 - rng.randint(5, 20), 15)
    if rng.random() < 0.25:
        code, display = rng.choice(RULED_CONDITIONS)
        b.condition(code, display=display, onset=ago(rng.randint(30, 3000)))
    if rng.random() < 0.2:
        b.medication(rng.choice(OTHER_DRUGS), start=ago(rng.randint(30, 400)), mg=10)
    vitals = rng.randint(3, 60)
    b.blood_pressure(ago(vitals), rng.randint(105, 170), rng.randint(60, 105))
    b.weight(ago(vitals), rng.randint(50, 130))
    b.height(ago(vitals), rng.randint(150, 195))
    b.phq9(ago(vitals), rng.randint(5, 27))
    if gender == "female" and rng.random() < 0.7:
        b.pregnancy_test(ago(vitals), positive=rng.random() < 0.03)
    bundle = b.bundle()
    entries: list[dict[str, Any]] = bundle["entry"]
    n = 0
    while len(entries) < resources:
        rtype = _FILLER_TYPES[n % len(_FILLER_TYPES)]
        entries.append(_entry(_filler(rng, rtype, pid, f"{pid}-x{n}", ago(rng.randint(1, 3650)))))
        n += 1
    return bundle


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _filler(rng: random.Random, rtype: str, pid: str, rid: str, when: date) -> dict[str, Any]:
    subject = {"reference": f"Patient/{pid}"}
    stamp = f"{when.isoformat()}T{rng.randint(8, 17):02d}:{rng.randint(0, 59):02d}:00+00:00"
    period = {"start": stamp, "end": stamp}
    encounter = {"reference": f"Encounter/{pid}-enc"}
    if rtype == "Encounter":
        return {
            "resourceType": "Encounter",
            "id": rid,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [
                {
                    "coding": [{"system": SNOMED, "code": "185349003", "display": "Encounter for check up"}],
                    "text": "Encounter for check up",
                }
            ],
            "subject": subject,
            "period": period,
            "participant": [{"individual": {"reference": "Practitioner/pr-1", "display": "Dr. Example"}}],
            "serviceProvider": {"reference": "Organization/org-1", "display": "Example Clinic"},
        }
    if rtype in ("Claim", "ExplanationOfBenefit"):
        res: dict[str, Any] = {
            "resourceType": rtype,
            "id": rid,
            "status": "active",
            "type": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}
                ]
            },
            "use": "claim",
            "patient": subject,
            "billablePeriod": period,
            "created": stamp,
            "provider": {"reference": "Organization/org-1"},
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Medicaid"}}],
            "item": [
                {
                    "sequence": i + 1,
                    "productOrService": {
                        "coding": [{"system": SNOMED, "code": str(185349003 + i), "display": "Office visit"}]
                    },
                    "encounter": [encounter],
                    "net": {"value": round(rng.uniform(50, 500), 2), "currency": "USD"},
                }
                for i in range(rng.randint(1, 3))
            ],
            "total": {"value": round(rng.uniform(50, 1500), 2), "currency": "USD"},
        }
        if rtype == "Claim":
            res["priority"] = {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}
                ]
            }
        else:
            res.update(
                outcome="complete", insurer={"display": "Medicaid"}, claim={"reference": f"Claim/{rid}"}
            )
            res["insurance"] = [{"focal": True, "coverage": {"display": "Medicaid"}}]
            del res["total"]
        return res
    if rtype == "Immunization":
        return {
            "resourceType": "Immunization",
            "id": rid,
            "status": "completed",
            "vaccineCode": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/sid/cvx",
                        "code": "140",
                        "display": "Influenza, seasonal, injectable",
                    }
                ]
            },
            "patient": subject,
            "encounter": encounter,
            "occurrenceDateTime": stamp,
            "primarySource": True,
        }
    if rtype == "DiagnosticReport":
        return {
            "resourceType": "DiagnosticReport",
            "id": rid,
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "51990-0", "display": "Basic metabolic panel"}]},
            "subject": subject,
            "encounter": encounter,
            "effectiveDateTime": stamp,
            "issued": stamp,
            "result": [{"reference": f"Observation/{rid}-r{i}"} for i in range(4)],
        }
    code, display, unit, low, high = rng.choice(LABS)
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": subject,
        "encounter": encounter,
        "effectiveDateTime": stamp,
        "issued": stamp,
        "valueQuantity": {
            "value": round(rng.uniform(low, high), 1),
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


def sized_patient(seed: int, pid: str, as_of: date, target_bytes: int) -> bytes:
    """A patient bundle of about `target_bytes` of JSON (Synthea-sized records: 1 MB, 10 MB)."""
    per_resource = max(len(orjson.dumps(patient(seed, pid, as_of, 300))) // 300, 1)
    return orjson.dumps(patient(seed, pid, as_of, max(target_bytes // per_resource, 20)))


def population(seed: int, count: int, as_of: date, resources: int) -> Iterator[dict[str, Any]]:
    for i in range(count):
        yield patient(seed * 1_000_003 + i, f"p{i}", as_of, resources)


def write_bulk_export(
    folder: Path, seed: int, count: int, as_of: date, resources: int, broken: frozenset[int] = frozenset()
) -> int:
    """A FHIR Bulk Data export (one NDJSON file per resource type) of `count` patients; the
    patients whose index is in `broken` get a Patient without birthDate. Returns bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    total = 0
    try:
        for i, bundle in enumerate(population(seed, count, as_of, resources)):
            for entry in bundle["entry"]:
                res = entry["resource"]
                if i in broken and res["resourceType"] == "Patient":
                    res = {k: v for k, v in res.items() if k != "birthDate"}
                rtype = res["resourceType"]
                fh = files.get(rtype)
                if fh is None:
                    fh = files[rtype] = (folder / f"{rtype}.ndjson").open("wb")
                line = orjson.dumps(res) + b"\n"
                fh.write(line)
                total += len(line)
    finally:
        for fh in files.values():
            fh.close()
    return total
