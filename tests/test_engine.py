"""The durable-rules wrapper: facts in, firings with their facts out; caller-thread actions, no
crossed results, unsafe shapes refused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from cds.contract.facts import PatientFact, Phq9Fact
from cds.engine import RuleEngine
from cds.ingest.load import flatten
from cds.knowledge import default_knowledge
from cds.pipeline import assess
from cds.ruleset.compile import UnsafeRuleError, check_safe
from cds.ruleset.schema import Rule
from cds.synthetic import trd_patient

AS_OF = date(2025, 6, 2)
MINOR = Rule.model_validate(
    {
        "id": "test.minor",
        "version": "1.0.0",
        "title": "Minor",
        "statement": "A patient under 18 years old.",
        "citation": {"label": "test", "url": "https://example.org"},
        "profiles": ["us-fda"],
        "when": [{"fact": "patient", "where": {"age_years": {"lt": 18}}}],
        "then": {"indication": {"status": "not-eligible", "reason": "a minor"}},
    }
)
SETTINGS = default_knowledge().settings


def _patient(age: int) -> PatientFact:
    return PatientFact(
        evidence=[f"Patient/{age}"],
        age_years=age,
        age_min_years=age,
        age_max_years=age,
        age_text=str(age),
        birth_date_precision="day",
        sex="female",
        birth_date=date(AS_OF.year - age, 1, 1),
        deceased=False,
        japanese_ancestry=False,
        childbearing_potential=False,
    )


def test_fires_only_on_matching_facts_returning_the_facts_it_matched() -> None:
    engine = RuleEngine([MINOR], SETTINGS, "t1")
    child = _patient(17)
    other = Phq9Fact(status="missing")
    fired = engine.evaluate([child, other], AS_OF)
    assert [(f.rule_id, f.facts) for f in fired] == [("test.minor", {"patient": child})]
    assert engine.evaluate([_patient(40)], AS_OF) == []


def test_sessions_do_not_leak_between_evaluations() -> None:
    engine = RuleEngine([MINOR], SETTINGS, "t2")
    for _ in range(200):
        assert engine.evaluate([_patient(40)], AS_OF) == []
        assert len(engine.evaluate([_patient(12)], AS_OF)) == 1


def test_cross_fact_reference_is_refused() -> None:
    unsafe = {"all": [{"p_a": {"$and": [{"kind": "a"}, {"$lt": {"x": {"p_b": "x"}}}]}}]}
    with pytest.raises(UnsafeRuleError):
        check_safe({"r.cross": unsafe})


def test_rules_on_context_state_are_refused() -> None:
    with pytest.raises(UnsafeRuleError):
        check_safe({"r.state": {"all": [{"s": {"$ex": {"x": 1}}}]}})


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


def test_facts_no_rule_matches_are_handled_in_one_action(monkeypatch: pytest.MonkeyPatch) -> None:
    # durable raises on a fact no rule handles; the catch-all handles every fact, all the waiting
    # facts in one action (each action is a callback through durable's Python host).
    import cds.engine.durable_engine as durable_engine

    calls: list[object] = []

    def counted(c: object) -> None:  # durable reads the action's argument count: a def, one argument
        calls.append(c)

    monkeypatch.setattr(durable_engine, "_noop", counted)
    engine = RuleEngine([MINOR], SETTINGS, "t-catch-all", prune=False)  # every fact is asserted
    for _ in range(3):
        assert engine.evaluate([_patient(40 + i) for i in range(10)], AS_OF) == []
    assert len(calls) == 3, f"{len(calls)} catch-all actions for 3 evaluations of 10 unmatched facts"
    child = _patient(12)
    fired = engine.evaluate([_patient(40), Phq9Fact(status="missing"), child], AS_OF)
    assert [(f.rule_id, f.facts) for f in fired] == [("test.minor", {"patient": child})]
