"""Reading an unplaced entry's words: what matches, what does not, and what it may conclude."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds.pipeline import evaluate
from cds.synthetic import SNOMED, PatientBuilder
from cds.terminology import load_text_matcher


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("Abdominal aortic aneurysm", "aneurysmal-vascular-disease"),
        ("AAA 4.2 cm, under surveillance", "aneurysmal-vascular-disease"),
        ("s/p EVAR 2019", "aneurysmal-vascular-disease"),
        ("r/o aneurysm", "aneurysmal-vascular-disease"),  # suspected is reviewed, not negated
        ("Negative for DVT; AAA", "aneurysmal-vascular-disease"),  # negation stops at the clause
        ("AVM of brain", "arteriovenous-malformation"),
        ("arteriovenous malformation, spinal", "arteriovenous-malformation"),
        ("intracerebral bleed", "intracerebral-hemorrhage"),
        ("Old ICH (2012)", "intracerebral-hemorrhage"),
        ("Thalamic haemorrhage", "intracerebral-hemorrhage"),
        ("chronic subdural hematoma", "intracerebral-hemorrhage"),
    ],
)
def test_affirmed_phrases(text: str, concept: str) -> None:
    assert [h.concept for h in load_text_matcher().match(text)] == [concept]


@pytest.mark.parametrize(
    "text",
    [
        "Family history of aneurysm",
        "No evidence of AAA",
        "aneurysm ruled out",
        "denies intracerebral bleed",
        "Haemorrhoids",
        "Anaemia",
        "avmed clinic",  # word boundaries
        "Dialysis AV fistula, left arm",  # access fistula is not an AVM
        "",
    ],
)
def test_negated_or_unrelated_phrases(text: str) -> None:
    assert load_text_matcher().match(text) == []


def _patient(entry: dict[str, Any]) -> list[dict[str, Any]]:
    p = PatientBuilder(birth_date="1980-01-01", gender="male", pid="text")
    p.condition("F33.1", onset="2024-09-01")
    p.medication("sertraline", start="2024-09-15", end="2024-12-15", mg=150, stop_reason="lack of efficacy")
    p.medication("venlafaxine", start="2025-01-02", mg=150)
    p.blood_pressure("2025-05-28", 128, 82)
    p.weight("2025-05-28", 80)
    p.resources.append({"resourceType": "Condition", "id": "entry", "subject": p.ref, **entry})
    return [e["resource"] for e in p.bundle()["entry"]]


@pytest.mark.parametrize(
    "code",
    [
        {"text": "Abdominal aortic aneurysm"},
        {"coding": [{"system": "http://example.org/local", "code": "A1", "display": "AVM of brain"}]},
        {"coding": [{"system": SNOMED, "code": "999000001", "display": "Intracerebral bleed"}]},
    ],
    ids=["uncoded", "local-system", "unplaced-snomed"],
)
def test_words_never_make_an_absolute_but_never_pass_silently(code: dict[str, Any]) -> None:
    a = evaluate(_patient({"code": code}), as_of=date(2025, 6, 2)).assessment
    verdicts = {p.product: p.verdict for p in a.products}
    assert verdicts == {"esketamine": "insufficient-data", "ketamine-iv": "insufficient-data"}
    review = [f for f in a.findings if f.rule.startswith("data-gap.review-")]
    assert len(review) == 1 and review[0].blocks
    assert "Condition/entry" in review[0].summary, "the finding must name the entry"
    assert not [f for f in a.findings if f.severity == "absolute"]


def test_a_refuted_entry_is_not_reviewed() -> None:
    refuted = {
        "code": {"text": "Abdominal aortic aneurysm"},
        "verificationStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"}
            ]
        },
    }
    a = evaluate(_patient(refuted), as_of=date(2025, 6, 2)).assessment
    assert not [f for f in a.findings if f.rule.startswith("data-gap.review-")]


def test_a_coded_icd_entry_is_decided_by_its_code_not_its_words() -> None:
    # I77.1 (stricture of artery) is placed by the ICD-10-CM hierarchy: no review from its words.
    entry = {
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I77.1"}], "text": "AAA?"}
    }
    a = evaluate(_patient(entry), as_of=date(2025, 6, 2)).assessment
    assert not [f for f in a.findings if f.rule.startswith("data-gap.review-")]
