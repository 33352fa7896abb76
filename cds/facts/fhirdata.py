"""Small readers for FHIR JSON shapes (dates, codes, references) shared by the fact builders."""

from __future__ import annotations

from datetime import date
from typing import Any

from cds.errors import InputError


def parse_date(value: object, *, where: str, field: str) -> date | None:
    """FHIR date/dateTime/instant (YYYY, YYYY-MM, YYYY-MM-DD[Thh:mm...]) to a date. Partial dates
    take the earliest day: a duration computed from them can only be under-, never over-stated
    for a start date (callers that need an end date use `parse_end_date`)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) < 4:
        raise InputError(f"{field}: not a FHIR date ({value!r})", location=where)
    try:
        if len(value) == 4:
            return date(int(value), 1, 1)
        if len(value) == 7:
            return date(int(value[:4]), int(value[5:7]), 1)
        return date.fromisoformat(value[:10])
    except ValueError:
        raise InputError(f"{field}: not a FHIR date ({value!r})", location=where) from None


def parse_end_date(value: object, *, where: str, field: str) -> date | None:
    # A partial end date ("2024-05") takes the first day: the stricter (shorter) reading.
    return parse_date(value, where=where, field=field)


def period_start(obj: dict[str, Any], key: str, *, where: str) -> date | None:
    period = obj.get(key)
    if isinstance(period, dict):
        return parse_date(period.get("start"), where=where, field=f"{key}.start")
    return None


def period_end(obj: dict[str, Any], key: str, *, where: str) -> date | None:
    period = obj.get(key)
    if isinstance(period, dict):
        return parse_end_date(period.get("end"), where=where, field=f"{key}.end")
    return None


def codes(concept: object) -> list[tuple[str | None, str | None]]:
    if not isinstance(concept, dict):
        return []
    out = []
    for c in concept.get("coding") or []:
        if isinstance(c, dict):
            out.append((c.get("system"), c.get("code")))
    return out


def first_code(concept: object) -> str | None:
    for _, code in codes(concept):
        if code:
            return code
    return None


def concept_text(concept: object) -> str:
    """Every human-readable string of a CodeableConcept, for text matching."""
    if not isinstance(concept, dict):
        return ""
    parts = [
        str(c.get("display")) for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("display")
    ]
    if isinstance(concept.get("text"), str):
        parts.append(concept["text"])
    return " | ".join(parts)


def status_code(obj: dict[str, Any], key: str) -> str | None:
    """clinicalStatus / verificationStatus: a CodeableConcept in R4 (a plain code in older data)."""
    value = obj.get(key)
    if isinstance(value, str):
        return value
    return first_code(value)
