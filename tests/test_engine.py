"""The durable-rules wrapper: caller-thread actions, no crossed results, unsafe shapes refused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from cds.engine import RuleEngine
from cds.ingest.load import flatten
from cds.pipeline import assess
from cds.ruleset.compile import UnsafeRuleError
from cds.synthetic import trd_patient

AS_OF = date(2025, 6, 2)
MINOR = {"all": [{"p_patient": {"$and": [{"kind": "patient"}, {"$lt": {"age_years": 18}}]}}]}


def test_fires_only_on_matching_facts_and_unmatched_facts_do_not_raise() -> None:
    engine = RuleEngine({"r.minor": MINOR}, "t1")
    fired = engine.evaluate([{"id": "f0", "kind": "patient", "age_years": 17}, {"id": "f1", "kind": "other"}])
    assert [(f.rule_id, f.facts) for f in fired] == [("r.minor", {"patient": "f0"})]
    assert engine.evaluate([{"id": "f0", "kind": "patient", "age_years": 40}]) == []


def test_sessions_do_not_leak_between_evaluations() -> None:
    engine = RuleEngine({"r.minor": MINOR}, "t2")
    for _ in range(200):
        assert engine.evaluate([{"id": "f0", "kind": "patient", "age_years": 40}]) == []
        assert len(engine.evaluate([{"id": "f0", "kind": "patient", "age_years": 12}])) == 1


def test_cross_fact_reference_is_refused() -> None:
    unsafe = {"all": [{"p_a": {"$and": [{"kind": "a"}, {"$lt": {"x": {"p_b": "x"}}}]}}]}
    with pytest.raises(UnsafeRuleError):
        RuleEngine({"r.cross": unsafe}, "t3")


def test_rules_on_context_state_are_refused() -> None:
    with pytest.raises(UnsafeRuleError):
        RuleEngine({"r.state": {"all": [{"s": {"$ex": {"x": 1}}}]}}, "t4")


def test_many_evaluations_on_several_threads_never_cross_patients() -> None:
    """Adults and children interleaved on 4 threads: every result belongs to its own patient."""
    bundles = {}
    for i in range(12):
        birth = "2010-01-01" if i % 2 else "1980-01-01"
        bundles[f"p{i}"] = [r.data for r in flatten(trd_patient(f"p{i}", birth=birth).bundle())]

    def run(pid: str) -> tuple[str, str, str]:
        a = assess(bundles[pid], as_of=AS_OF)
        return pid, a.patient.id, a.indication.status

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, [f"p{i % 12}" for i in range(120)]))
    for pid, patient_id, status in results:
        assert patient_id == f"Patient/{pid}"
        assert status == ("not-eligible" if int(pid[1:]) % 2 else "eligible")
