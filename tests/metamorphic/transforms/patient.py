"""Patient shapes: partial birth dates, deceased[x], the same Patient returned twice, and the ways a
reference can name the patient."""

from __future__ import annotations

from tests.metamorphic.harness import AS_OF, Assessment, Changing, Preserving, Resources, by_type, product


def _patient(resources: Resources) -> dict:  # type: ignore[type-arg]
    return by_type(resources, "Patient")[0]


def birth_month_only(resources: Resources) -> Resources:
    """FHIR R4 `date` allows YYYY-MM (Patient.birthDate); de-identified exports keep the month."""
    p = _patient(resources)
    p["birthDate"] = p["birthDate"][:7]
    return resources


def birth_year_only(resources: Resources) -> Resources:
    """FHIR R4 `date` allows YYYY; HIPAA Safe Harbor de-identification keeps only the birth year."""
    p = _patient(resources)
    p["birthDate"] = p["birthDate"][:4]
    return resources


def not_deceased(resources: Resources) -> Resources:
    """US Core Patient: deceasedBoolean false is what many EHRs send for a living patient."""
    _patient(resources)["deceasedBoolean"] = False
    return resources


def dies_after_the_evaluation_date(resources: Resources) -> Resources:
    """Patient.deceasedDateTime later than the evaluation date: alive on that date (replays)."""
    _patient(resources)["deceasedDateTime"] = "2025-08-01"
    return resources


def patient_included_twice(resources: Resources) -> Resources:
    """FHIR R4 search `_include=...:patient` returns the Patient (search.mode include) once per page:
    a multi-page searchset read whole holds it twice."""
    return [*resources, dict(_patient(resources))]


def _references(resources: Resources, make: object) -> Resources:
    pid = _patient(resources)["id"]
    for r in resources:
        for name in ("subject", "patient"):
            if isinstance(r.get(name), dict) and r[name].get("reference") == f"Patient/{pid}":
                r[name] = {"reference": make(pid)}  # type: ignore[operator]
    return resources


def absolute_patient_references(resources: Resources) -> Resources:
    """FHIR R4 references may be absolute URLs (Epic/Cerner searchsets use the server base)."""
    return _references(resources, lambda pid: f"https://fhir.example-ehr.org/api/FHIR/R4/Patient/{pid}")


def versioned_patient_references(resources: Resources) -> Resources:
    """FHIR R4 version-specific reference: Patient/id/_history/vid."""
    return _references(resources, lambda pid: f"Patient/{pid}/_history/3")


def urn_patient_references(resources: Resources) -> Resources:
    """Transaction bundles (Synthea) reference the Patient by its fullUrl urn:uuid:<id>."""
    return _references(resources, lambda pid: f"urn:uuid:{pid}")


PRESERVING = [
    Preserving("birth date to the month", birth_month_only),
    Preserving("birth date to the year (range stays clear of 18 and 65)", birth_year_only),
    Preserving("deceasedBoolean false", not_deceased),
    Preserving("deceasedDateTime after the evaluation date", dies_after_the_evaluation_date),
    Preserving("Patient included twice", patient_included_twice),
    Preserving("absolute Patient references", absolute_patient_references),
    Preserving("version-specific Patient references", versioned_patient_references),
    Preserving("urn:uuid Patient references", urn_patient_references),
]


def birth_year_allowing_17(resources: Resources) -> Resources:
    """Birth year = evaluation year - 18 (FHIR R4 date YYYY): 17 or 18 on the evaluation date."""
    _patient(resources)["birthDate"] = str(AS_OF.year - 18)
    return resources


def birth_year_allowing_65(resources: Resources) -> Resources:
    """Birth year = evaluation year - 65 (FHIR R4 date YYYY): 64 or 65 on the evaluation date."""
    _patient(resources)["birthDate"] = str(AS_OF.year - 65)
    return resources


def deceased(resources: Resources) -> Resources:
    """US Core Patient deceasedDateTime before the evaluation date."""
    _patient(resources)["deceasedDateTime"] = "2025-05-30T14:00:00Z"
    return resources


def deceased_boolean(resources: Resources) -> Resources:
    """Patient.deceasedBoolean true (no date known)."""
    _patient(resources)["deceasedBoolean"] = True
    return resources


def _possible_minor(before: Assessment, after: Assessment) -> None:
    assert before.indication.status == "eligible"
    assert after.indication.status == "insufficient-data", "a possible minor met the indication"
    assert {p.verdict for p in after.products} == {"insufficient-data"}
    assert "data-gap.birth-date" in {f.rule for f in after.findings}


def _possible_older_adult(before: Assessment, after: Assessment) -> None:
    assert "precaution.older-adult" not in {f.rule for f in before.findings}
    assert "precaution.older-adult" in {f.rule for f in after.findings}
    # Age alone is information (issue 13 item 11): the verdict does not change.
    assert product(after, "esketamine") == product(before, "esketamine")


def _not_assessed_as_alive(before: Assessment, after: Assessment) -> None:
    assert before.indication.status == "eligible"
    assert after.indication.status == "not-eligible"
    assert "indication.deceased" in {r.rule for r in after.indication.rules}
    assert {p.verdict for p in after.products} == {"not-indicated"}
    assert all(p.dosing is None for p in after.products)


CHANGING = [
    Changing("birth year that allows 17", birth_year_allowing_17, _possible_minor),
    Changing("birth year that allows 65", birth_year_allowing_65, _possible_older_adult),
    Changing("deceased before the evaluation date", deceased, _not_assessed_as_alive),
    Changing("deceasedBoolean true", deceased_boolean, _not_assessed_as_alive),
]
