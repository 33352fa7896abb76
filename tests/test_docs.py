"""Generated documents are committed: they must match what the code and rules generate now."""

from __future__ import annotations

from pathlib import Path

import orjson

from cds.catalogue import facts_markdown, rules_markdown
from cds.contract.assessment import Assessment
from cds.knowledge import default_knowledge

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_rule_catalogue_is_up_to_date() -> None:
    assert (DOCS / "RULES.md").read_text() == rules_markdown(default_knowledge()), (
        "run: cds rules catalogue > docs/RULES.md"
    )


def test_facts_catalogue_is_up_to_date() -> None:
    assert (DOCS / "FACTS.md").read_text() == facts_markdown(), "run: cds facts > docs/FACTS.md"


def test_assessment_schema_is_up_to_date() -> None:
    committed = orjson.loads((DOCS / "assessment.schema.json").read_bytes())
    assert committed == Assessment.model_json_schema(by_alias=True), (
        "run: cds schema assessment > docs/assessment.schema.json"
    )


def test_every_rule_and_fact_kind_is_documented() -> None:
    rules = (DOCS / "RULES.md").read_text()
    assert all(f"`{r.id}`" in rules for r in default_knowledge().ruleset.rules)
