"""Dropping facts no rule pattern can match (cds/ruleset/relevance.py) changes no firing."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds.engine import RuleEngine
from cds.ingest.load import load_resources
from cds.knowledge import default_knowledge
from cds.pipeline import evaluate
from cds.ruleset.relevance import Relevance
from cds.ruleset.schema import Rule
from cds.synthetic import trd_patient

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fhir-samples"
FILES = sorted(SAMPLES.glob("*/*.json"))[::5] if SAMPLES.exists() else []


def _rule(rule_id: str, when: list[dict[str, Any]]) -> Rule:
    return Rule.model_validate(
        {
            "id": rule_id,
            "version": "1.0.0",
            "title": rule_id,
            "statement": "A rule for the relevance tests.",
            "citation": {"label": "test", "url": "https://example.org"},
            "profiles": ["us-fda"],
            "when": when,
            "then": {"indication": {"status": "not-eligible", "reason": "test rule"}},
        }
    )


RULES = [
    _rule("test.bp", [{"fact": "blood_pressure", "where": {"systolic": {"ge": 140}}}]),
    _rule("test.drug", [{"fact": "medication", "any": [{"valueset": "maois"}, {"active": True}]}]),
]
SETTINGS = default_knowledge().settings


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
    assert Relevance(RULES, SETTINGS).may_match(fact) is may


def _patients() -> list[tuple[list, date]]:
    out = [
        ([e["resource"] for e in trd_patient(f"t{i}").bundle()["entry"]], date(2025, 6, 2)) for i in range(2)
    ]
    out += [(load_resources(f), date(2026, 11, 27)) for f in FILES]
    return out


@pytest.mark.parametrize("profile", ["us-fda", "eu-smpc"])
def test_pruning_gives_the_same_firings(profile: str) -> None:
    kb = default_knowledge()
    rules = kb.ruleset.for_profile(profile)
    pruned = RuleEngine(rules, kb.settings, f"test_pruned_{profile.replace('-', '_')}", prune=True)
    full = RuleEngine(rules, kb.settings, f"test_full_{profile.replace('-', '_')}", prune=False)
    dropped = 0
    for resources, as_of in _patients():
        ev = evaluate(resources, as_of=as_of, profile=profile)  # type: ignore[arg-type]
        facts = ev.facts.all()
        assert pruned.evaluate(facts, as_of) == full.evaluate(facts, as_of)
        dropped += sum(not pruned._relevance.may_match(f.engine_view(as_of)) for f in facts)  # type: ignore[union-attr]
    assert dropped > 0  # the comparison covered facts that were actually dropped


@pytest.mark.parametrize("prune", [True, False], ids=["pruned: nothing asserted", "unpruned"])
def test_an_engine_whose_rules_match_no_fact_fires_nothing(prune: bool) -> None:
    from cds.contract.facts import Phq9Fact

    engine = RuleEngine(RULES, SETTINGS, f"test_nothing_matches_{prune}", prune=prune)
    assert engine.evaluate([Phq9Fact(status="current", score=3)], date(2025, 6, 2)) == []
