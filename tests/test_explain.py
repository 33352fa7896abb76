"""--explain re-evaluates conditions in Python: it must agree with durable-rules on every rule."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cds.explain import explain_rule, explain_text
from cds.ingest.load import load_resources
from cds.pipeline import evaluate

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT.parent / "shared" / "fhir-samples").glob("*/*.json"))
EXAMPLES = sorted((ROOT / "fhir" / "examples").glob("*.json"))


@pytest.mark.parametrize("profile", ["us-fda", "eu-smpc"])
@pytest.mark.parametrize("path", EXAMPLES + SAMPLES[::5], ids=lambda p: p.name[:40])
def test_explanation_agrees_with_the_engine(path: Path, profile: str) -> None:
    as_of = date(2025, 6, 2) if path.parent.name == "examples" else date(2026, 11, 27)
    ev = evaluate(load_resources(path), as_of=as_of, profile=profile)  # type: ignore[arg-type]
    fired = {f.rule_id for f in ev.firings}
    for rule in ev.knowledge.ruleset.for_profile(profile):
        ok, _ = explain_rule(rule, ev)
        assert ok == (rule.id in fired), rule.id


def test_explanation_names_expected_and_actual_values_and_resources() -> None:
    ev = evaluate(load_resources(ROOT / "fhir/examples/no-recent-bp.json"), as_of=date(2025, 6, 2))
    text = explain_text(ev)
    assert "FIRED  data-gap.blood-pressure" in text
    assert "status in ['missing', 'stale'] (actual 'stale')" in text
    assert "silent contraindication.aneurysmal-vascular-disease" in text
