"""PatientFact from the Patient resource."""

from __future__ import annotations

from datetime import date
from typing import Any

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


def build_patient(res: RawResource, as_of: date, settings: Settings) -> PatientFact:
    data = res.data
    where = f"{res.origin} ({res.ref})"
    birth = parse_date(data.get("birthDate"), where=where, field="birthDate")
    if birth is None:
        raise InputError("birthDate is missing: age cannot be determined", location=where)
    if birth > as_of:
        raise InputError(f"birthDate {birth} is after the evaluation date {as_of}", location=where)
    gender = data.get("gender") or "unknown"
    if gender not in ("female", "male", "other", "unknown"):
        raise InputError(f"gender: not a FHIR administrative gender ({gender!r})", location=where)
    deceased = bool(data.get("deceasedBoolean"))
    if data.get("deceasedDateTime"):
        died = parse_date(data["deceasedDateTime"], where=where, field="deceasedDateTime")
        deceased = died is not None and died <= as_of
    age = age_on(birth, as_of)
    preg = settings.pregnancy
    return PatientFact(
        evidence=[res.ref],
        age_years=age,
        sex=gender,
        birth_date=birth,
        deceased=deceased,
        japanese_ancestry=_japanese(data),
        # Stricter reading: only a recorded "male" rules pregnancy out; other and unknown do not.
        childbearing_potential=gender != "male"
        and preg.childbearing_age_min <= age <= preg.childbearing_age_max,
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
