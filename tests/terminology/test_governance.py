"""Code formats per system, overlaps, and the committed value-set catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.terminology.governance import (
    ICD10CM,
    LOINC,
    RXNORM,
    SNOMED,
    catalogue,
    check_formats,
    code_problem,
    overlaps,
)

ROOT = Path(__file__).resolve().parents[2]
VALUESETS = ROOT / "fhir" / "valuesets"


def test_every_committed_code_is_well_formed_for_its_system() -> None:
    problems = check_formats(VALUESETS)
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize(
    ("system", "code", "ok"),
    [
        (SNOMED, "22298006", True),
        (SNOMED, "15713001000119100", True),  # extension namespace identifier
        (SNOMED, "234143007", False),  # the old AVM root: wrong Verhoeff check digit
        (SNOMED, "50490007", False),  # the old ICH code: wrong check digit
        (SNOMED, "22298016", False),  # one digit changed: the check digit catches it
        (LOINC, "8480-6", True),
        (LOINC, "8480-7", False),
        (LOINC, "LA15173-0", True),
        (ICD10CM, "S06.350A", True),
        (ICD10CM, "F331", False),  # records may be undotted; value sets are written with the dot
        (ICD10CM, "U07.1", True),
        (ICD10CM, "I71.", False),
        (RXNORM, "6130", True),
        (RXNORM, "ketamine", False),
    ],
)
def test_code_format_checks(system: str, code: str, ok: bool) -> None:
    assert (code_problem(system, code) is None) == ok


def test_overlaps_between_concepts_are_reported() -> None:
    pairs = {(o.a, o.b): o.codes for o in overlaps(VALUESETS)}
    assert "F32.3" in pairs[("major-depressive-disorder", "psychosis")]
    # The absolute sets do not overlap each other: each code has one concept.
    absolute = {"aneurysmal-vascular-disease", "arteriovenous-malformation", "intracerebral-hemorrhage"}
    assert not [p for p in pairs if set(p) <= absolute], "an absolute-concept code sits in two value sets"


def test_value_set_catalogue_is_current() -> None:
    assert (ROOT / "docs" / "VALUESETS.md").read_text() == catalogue(VALUESETS), (
        "run: python -m cds.terminology.cli catalogue > docs/VALUESETS.md"
    )
