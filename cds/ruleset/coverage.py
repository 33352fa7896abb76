"""Rule coverage by the clinical scenarios in features/: every rule needs a scenario tagged with
its id in which it fires, and one tagged with its id in which it does not (a neighbouring case).

The scenario run records, per scenario, its tags and the rules that fired
(`test-artifacts/rule-coverage.json`); this module turns that into gaps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds.ruleset.loader import Ruleset


@dataclass(frozen=True)
class Gap:
    rule: str
    missing: str  # "a scenario where it fires" / "a scenario where it does not fire"

    def __str__(self) -> str:
        return f"{self.rule}: no tagged scenario {self.missing.removeprefix('a scenario ')}"


def gaps(ruleset: Ruleset, records: list[dict[str, Any]]) -> list[Gap]:
    out: list[Gap] = []
    for rule in sorted(ruleset.rules, key=lambda r: r.id):
        tagged = [r for r in records if rule.id in r["tags"]]
        if not any(rule.id in r["fired"] for r in tagged):
            out.append(Gap(rule.id, "a scenario where it fires"))
        if not any(rule.id not in r["fired"] for r in tagged):
            out.append(Gap(rule.id, "a scenario where it does not fire"))
    return out
