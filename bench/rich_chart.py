"""The issue-12 reference patient: a 300-resource record of which about 155 resources are types and
codes the service's prefetch asks for (a long-treated patient: years of blood pressure, weight and
PHQ-9 results, a medication history with refills, a problem list), the rest Encounters, Claims and
other resources no fact reads. This is the shape the issue's measurement used (155 resources in
the prefetch, about 106 KiB); `population.patient` gives the leaner typical chart (about 10)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from population import ANTIDEPRESSANTS, OTHER_CONDITIONS, _entry, _filler

from cds.synthetic import PatientBuilder

OTHER_ACTIVE = ["lisinopril", "alprazolam", "lamotrigine", "aripiprazole"]


def reference_patient(as_of: date, pid: str = "reference", resources: int = 300) -> dict[str, Any]:
    rng = random.Random(12)
    b = PatientBuilder(birth_date=as_of - timedelta(days=46 * 365), gender="female", pid=pid)

    def ago(days: int) -> date:
        return as_of - timedelta(days=days)

    b.condition("F33.1", display="Major depressive disorder, recurrent, moderate", onset=ago(1500))
    b.condition("I10", display="Essential (primary) hypertension", onset=ago(2000))
    for i in range(12):  # a problem list: old resolved and chronic entries
        code, display = OTHER_CONDITIONS[i % len(OTHER_CONDITIONS)]
        b.condition(
            code, display=display, onset=ago(3000 - 200 * i), status=rng.choice(["active", "resolved"])
        )
    day = 1400
    for drug, mg in ANTIDEPRESSANTS[:5]:  # five trials, each ordered then refilled
        for refill in range(4):
            start, end = ago(day - 21 * refill), ago(day - 21 * (refill + 1))
            b.medication(drug, start=start, end=end, mg=mg, kind="MedicationRequest")
        day -= 120
    for drug in OTHER_ACTIVE:
        for refill in range(3):
            b.medication(drug, start=ago(300 - 90 * refill), end=ago(210 - 90 * refill), mg=10)
    for month in range(53):  # monthly vitals and PHQ-9 over more than four years
        when = ago(3 + 30 * month)
        b.blood_pressure(when, rng.randint(115, 150), rng.randint(70, 95))
        if month % 2 == 0:
            b.weight(when, 70 + rng.randint(-3, 3))
        if month % 2 == 1:
            b.phq9(when, rng.randint(12, 24))
    b.height(ago(3), 168)
    b.pregnancy_test(ago(5), positive=False)
    bundle = b.bundle()
    entries: list[dict[str, Any]] = bundle["entry"]
    n = 0
    kinds = ("Encounter", "Claim", "ExplanationOfBenefit", "Immunization", "DiagnosticReport")
    while len(entries) < resources:
        entries.append(
            _entry(_filler(rng, kinds[n % len(kinds)], pid, f"{pid}-x{n}", ago(rng.randint(1, 3650))))
        )
        n += 1
    return bundle


# Resources added to a chart to see how the assessment grows (make bench, case "growth"): those no
# fact reads (encounters, routine labs, heart rates) should cost only their parsing; those facts
# read (blood pressure, liver labs) cost their reading too.
GROWTH_KINDS = ("encounters", "routine labs", "heart rates", "blood pressures", "liver labs")


def with_extra(bundle: dict[str, Any], kind: str, n: int, as_of: date) -> dict[str, Any]:
    """`bundle` with `n` more resources of `kind`, spread over the last five years."""
    rng = random.Random(n)
    pid = bundle["entry"][0]["resource"]["id"]
    b = PatientBuilder(birth_date="1970-01-01", pid=f"{pid}-{kind.replace(' ', '-')}")
    extra: list[dict[str, Any]] = []
    for i in range(n):
        when = as_of - timedelta(days=1 + (i * 1826) // max(n, 1))
        if kind == "encounters":
            extra.append(_entry(_filler(rng, "Encounter", pid, f"{pid}-g{i}", when)))
        elif kind == "routine labs":
            extra.append(_entry(_filler(rng, "Observation", pid, f"{pid}-g{i}", when)))
        elif kind == "heart rates":
            b.observation("8867-4", when, value=rng.randint(55, 100), unit="/min")
        elif kind == "blood pressures":
            b.blood_pressure(when, rng.randint(110, 150), rng.randint(65, 95))
        elif kind == "liver labs":
            code, unit, low, high = rng.choice(LIVER_LABS)
            b.observation(code, when, value=round(rng.uniform(low, high), 1), unit=unit, vital=False)
        else:
            raise ValueError(f"unknown kind {kind!r} (one of {', '.join(GROWTH_KINDS)})")
    for res in b.resources:
        res["subject"] = {"reference": f"Patient/{pid}"}
        extra.append(_entry(res))
    return {**bundle, "entry": [*bundle["entry"], *extra]}


LIVER_LABS = [  # what the Child-Pugh reading takes: bilirubin, albumin, INR
    ("1975-2", "mg/dL", 0.3, 1.2),
    ("1751-7", "g/dL", 3.5, 5.0),
    ("6301-6", "{INR}", 0.9, 1.2),
]
