"""Daily dose in mg from a FHIR Dosage: doseQuantity × administrations per day, with the product
strength when the dose is given in units (tablets, capsules)."""

from __future__ import annotations

import re
from typing import Any

from cds.errors import InputError

_MG = {"mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001}
_UNIT_DOSE = {
    "tablet",
    "tablets",
    "tab",
    "tabs",
    "{tablet}",
    "{tbl}",
    "{tab}",
    "capsule",
    "capsules",
    "cap",
    "{capsule}",
    "{cap}",
    "1",
    "{unit}",
    "unit",
    "each",
    "ea",
    "spray",
    "{spray}",
    "patch",
    "{patch}",
    "device",
    "{device}",
}
_PER_DAY = {"h": 24.0, "min": 1440.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30, "a": 1 / 365}
# HL7 v3 GTSAbbreviation timing codes (Timing.code).
_TIMING_CODES = {
    "QD": 1,
    "QOD": 0.5,
    "BID": 2,
    "TID": 3,
    "QID": 4,
    "AM": 1,
    "PM": 1,
    "QHS": 1,
    "HS": 1,
    "Q4H": 6,
    "Q6H": 4,
    "Q8H": 3,
    "Q12H": 2,
    "WK": 1 / 7,
}
_TEXT_FREQ = [
    (re.compile(r"\b(four times (a|per) day|qid|4 times daily)\b", re.I), 4.0),
    (re.compile(r"\b(three times (a|per) day|tid|3 times daily)\b", re.I), 3.0),
    (re.compile(r"\b(twice (a|per) day|twice daily|bid|2 times daily)\b", re.I), 2.0),
    (
        re.compile(
            r"\b(once (a|per) day|once daily|daily|qd|every day|each day|at bedtime|nightly|qhs|every morning)\b",
            re.I,
        ),
        1.0,
    ),
]
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*MG(?![A-Za-z/])", re.I)


def strength_from_text(text: str) -> float | None:
    """'sertraline 50 MG Oral Tablet' -> 50. None when no strength or more than one (combinations)."""
    found = {float(m) for m in _STRENGTH.findall(text or "")}
    return found.pop() if len(found) == 1 else None


def strength_from_medication(med: dict[str, Any] | None) -> float | None:
    """Medication.ingredient[].strength as mg per unit, when exactly one ingredient gives it."""
    if not med:
        return None
    values = []
    for ing in med.get("ingredient") or []:
        ratio = ing.get("strength") if isinstance(ing, dict) else None
        num = (ratio or {}).get("numerator") or {}
        den = (ratio or {}).get("denominator") or {}
        unit = str(num.get("code") or num.get("unit") or "").lower()
        if unit in _MG and isinstance(num.get("value"), int | float) and (den.get("value") in (None, 1)):
            values.append(float(num["value"]) * _MG[unit])
    return values[0] if len(values) == 1 else None


def per_day(dosage: dict[str, Any]) -> float | None:
    if dosage.get("asNeededBoolean") or dosage.get("asNeededCodeableConcept"):
        return None  # PRN: no regular daily dose
    timing = dosage.get("timing") or {}
    rep = timing.get("repeat") or {}
    if rep.get("frequency") is not None or rep.get("period") is not None:
        freq = float(rep.get("frequency") or 1)
        period = float(rep.get("period") or 1)
        unit = rep.get("periodUnit") or "d"
        if unit not in _PER_DAY or period <= 0:
            return None
        return freq / period * _PER_DAY[unit]
    for coding in (timing.get("code") or {}).get("coding") or []:
        code = str(coding.get("code") or "").upper()
        if code in _TIMING_CODES:
            return float(_TIMING_CODES[code])
    text = " ".join(
        str(t)
        for t in (
            dosage.get("text"),
            dosage.get("patientInstruction"),
            (timing.get("code") or {}).get("text"),
        )
        if t
    )
    for pattern, value in _TEXT_FREQ:
        if pattern.search(text):
            return value
    return None


def daily_dose_mg(
    dosage: dict[str, Any] | None, strength_mg: float | None, *, where: str
) -> tuple[float | None, str | None]:
    """(mg/day, why unknown). Raises InputError on a negative or zero dose."""
    if not dosage:
        return None, "no dosage instruction"
    dose = None
    for dr in dosage.get("doseAndRate") or []:
        if isinstance(dr, dict) and isinstance(dr.get("doseQuantity"), dict):
            dose = dr["doseQuantity"]
            break
    if dose is None:
        return None, "no structured dose (doseAndRate.doseQuantity)"
    value = dose.get("value")
    if not isinstance(value, int | float):
        return None, "dose has no value"
    if value <= 0:
        raise InputError(
            f"doseAndRate.doseQuantity.value: dose must be positive (got {value})", location=where
        )
    unit = str(dose.get("code") or dose.get("unit") or "").strip().lower()
    if unit in _MG:
        mg = float(value) * _MG[unit]
    elif unit in _UNIT_DOSE or unit == "":
        if strength_mg is None:
            return None, f"dose given as {value} {unit or 'units'} and the product strength is unknown"
        mg = float(value) * strength_mg
    else:
        return None, f"dose unit {unit!r} is not convertible to mg"
    freq = per_day(dosage)
    if freq is None:
        return None, "frequency unknown (no timing.repeat, timing code or readable text)"
    return round(mg * freq, 2), None
