"""The report's timeline takes its readings from the fact build (no second pass over the record):
they must be exactly what reading the Observations again gives, for every example and a rich chart."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cds.facts import observations as obs
from cds.ingest.load import load_resources
from cds.pipeline import evaluate
from cds.synthetic import PatientBuilder

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2025, 6, 2)


def _rich_chart() -> list[dict[str, object]]:
    b = PatientBuilder(birth_date="1979-03-01", gender="female", pid="rich")
    b.condition("F33.1", onset="2023-01-10")
    for month in range(1, 13):
        b.blood_pressure(f"2024-{month:02d}-15", 120 + month, 80 + month % 5)
        b.phq9(f"2024-{month:02d}-15", 10 + month)
        b.weight(f"2024-{month:02d}-15", 70 + month / 10)
    b.blood_pressure("2025-05-30", 150, 95)
    return [e["resource"] for e in b.bundle()["entry"]]


CASES = {p.stem: load_resources(p) for p in sorted((ROOT / "fhir/examples").glob("*.json"))}


@pytest.mark.parametrize("name", [*CASES, "rich chart"])
def test_timeline_readings_equal_a_second_reading_of_the_record(name: str) -> None:
    evaluation = evaluate(CASES[name] if name in CASES else _rich_chart(), as_of=AS_OF)
    timeline, kb, facts = evaluation.timeline, evaluation.knowledge, evaluation.facts
    idx = obs.ObservationIndex(evaluation.resources, AS_OF, kb.valuesets, obs.OBSERVATION_VALUESETS)
    assert timeline.blood_pressure == obs.blood_pressure(idx, kb.valuesets, AS_OF, kb.settings)[1]
    assert timeline.phq9 == obs.phq9(idx, AS_OF, kb.settings)[1]
    assert timeline.weight_kg == obs.body(idx, facts.patient, AS_OF, kb.settings)[1]
    if name == "rich chart":
        assert len(timeline.blood_pressure) == 13 and len(timeline.phq9) == 12
