"""Dropping facts no rule pattern can match (cds/engine/relevance.py) changes no firing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cds.engine import RuleEngine
from cds.engine.relevance import Relevance
from cds.ingest.load import load_resources
from cds.pipeline import compiled, evaluate
from cds.ruleset.compile import compile_rule
from cds.synthetic import trd_patient

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fhir-samples"
FILES = sorted(SAMPLES.glob("*/*.json"))[::5] if SAMPLES.exists() else []

RULES = {
    "bp": {"all": [{"p_bp": {"$and": [{"kind": "blood_pressure"}, {"$gte": {"systolic": 140}}]}}]},
    "drug": {
        "all": [
            {"p_m": {"$and": [{"kind": "medication"}, {"$or": [{"valueset": "maois"}, {"active": True}]}]}}
        ]
    },
}


@pytest.mark.parametrize(
    ("fact", "may"),
    [
        ({"kind": "phq9", "score": 20}, False),  # a kind no rule names
        ({"kind": "blood_pressure", "systolic": 120}, False),  # 120 >= 140 is certainly false
        ({"kind": "blood_pressure", "systolic": 150}, True),
        ({"kind": "blood_pressure", "systolic": "150"}, True),  # mixed types: durable's reading may differ
        ({"kind": "blood_pressure"}, True),  # property missing: kept
        ({"kind": "medication", "valueset": "opioids", "active": False}, False),
        ({"kind": "medication", "valueset": "opioids", "active": 1}, True),  # int vs bool: kept
        ({"kind": "medication", "valueset": "maois", "active": False}, True),
    ],
)
def test_a_fact_is_dropped_only_when_no_pattern_can_match(fact: dict[str, object], may: bool) -> None:
    assert Relevance(RULES).may_match(fact) is may


def _patients() -> list[tuple[list, date]]:
    out = [
        ([e["resource"] for e in trd_patient(f"t{i}").bundle()["entry"]], date(2025, 6, 2)) for i in range(2)
    ]
    out += [(load_resources(f), date(2026, 11, 27)) for f in FILES]
    return out


@pytest.mark.parametrize("profile", ["us-fda", "eu-smpc"])
def test_pruning_gives_the_same_firings(profile: str) -> None:
    comp = compiled()
    definitions = {r.id: compile_rule(r, comp.ruleset.settings) for r in comp.ruleset.for_profile(profile)}  # type: ignore[arg-type]
    pruned = RuleEngine(definitions, f"test_pruned_{profile.replace('-', '_')}")
    full = RuleEngine(definitions, f"test_full_{profile.replace('-', '_')}", prune=False)
    dropped = 0
    for resources, as_of in _patients():
        ev = evaluate(resources, as_of=as_of, profile=profile)  # type: ignore[arg-type]
        views = [{**f.engine_view(as_of), "id": fid} for fid, f in ev.engine_facts.items()]
        assert pruned.evaluate(views) == full.evaluate(views)
        dropped += sum(not pruned._relevance.may_match(v) for v in views)  # type: ignore[union-attr]
    assert dropped > 0  # the comparison covered facts that were actually dropped


def test_an_engine_whose_rules_match_no_fact_fires_nothing() -> None:
    engine = RuleEngine(RULES, "test_nothing_matches")
    assert engine.evaluate([{"kind": "phq9", "id": "f0", "score": 3}]) == []
