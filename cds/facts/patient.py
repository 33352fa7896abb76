"""PatientFact from the Patient resource: the age as a range when the birth date is partial."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any, Literal

from cds.contract.facts import PatientFact
from cds.errors import InputError
from cds.facts.fhirdata import parse_date
from cds.ingest.load import RawResource
from cds.settings import Settings

US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
# CDC Race & Ethnicity code for Japanese (2039-6) in the US Core race extension.
JAPANESE_CODES = {"2039-6"}


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def birth_range(value: str, earliest: date) -> tuple[date, Literal["day", "month", "year"]]:
    """The last day a FHIR birthDate (YYYY, YYYY-MM, YYYY-MM-DD) allows, and its precision."""
    if len(value) == 4:
        return date(earliest.year, 12, 31), "year"
    if len(value) == 7:
        last = calendar.monthrange(earliest.year, earliest.month)[1]
        return date(earliest.year, earliest.month, last), "month"
    return earliest, "day"


def age_text(low: int, high: int) -> str:
    return str(low) if low == high else f"{low} or {high}" if high == low + 1 else f"{low} to {high}"


def build_patient(res: RawResource, as_of: date, settings: Settings) -> PatientFact:
    data = res.data
    where = f"{res.origin} ({res.ref})"
    raw_birth = data.get("birthDate")
    birth = parse_date(raw_birth, where=where, field="birthDate")
    if birth is None:
        raise InputError("birthDate is missing: age cannot be determined", location=where)
    if birth > as_of:
        raise InputError(f"birthDate {birth} is after the evaluation date {as_of}", location=where)
    latest, precision = birth_range(str(raw_birth), birth)
    # Born at the latest on the evaluation date: a birth year equal to its year allows age 0.
    age_min = age_on(min(latest, as_of), as_of)
    age_max = age_on(birth, as_of)
    gender = data.get("gender") or "unknown"
    if gender not in ("female", "male", "other", "unknown"):
        raise InputError(f"gender: not a FHIR administrative gender ({gender!r})", location=where)
    deceased = data.get("deceasedBoolean") is True
    if data.get("deceasedDateTime"):
        died = parse_date(data["deceasedDateTime"], where=where, field="deceasedDateTime")
        deceased = died is not None and died <= as_of
    preg = settings.pregnancy
    return PatientFact(
        evidence=[res.ref],
        age_years=age_min,
        age_min_years=age_min,
        age_max_years=age_max,
        age_text=age_text(age_min, age_max),
        birth_date_precision=precision,
        sex=gender,
        birth_date=birth,
        deceased=deceased,
        japanese_ancestry=_japanese(data),
        # Stricter reading: only a recorded "male" rules pregnancy out; other and unknown do not,
        # and any age the birth date allows inside the range counts.
        childbearing_potential=gender != "male"
        and age_max >= preg.childbearing_age_min
        and age_min <= preg.childbearing_age_max,
    )


def _japanese(data: dict[str, Any]) -> bool:
    for ext in data.get("extension") or []:
        if not isinstance(ext, dict) or ext.get("url") != US_CORE_RACE:
            continue
        for sub in ext.get("extension") or []:
            coding = sub.get("valueCoding") if isinstance(sub, dict) else None
            if isinstance(coding, dict) and coding.get("code") in JAPANESE_CODES:
                return True
            text = sub.get("valueString") if isinstance(sub, dict) else None
            if isinstance(text, str) and "japanese" in text.lower():
                return True
    return False
