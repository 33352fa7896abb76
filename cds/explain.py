"""Why each rule fired or did not: every condition with its expected and actual value, and the
FHIR resources behind the facts. Conditions are re-evaluated here in Python with the engine's
semantics, through the one operator table (`cds/ruleset/operators.py`) the compiler also uses;
a test checks this agrees with durable-rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds.contract.facts import Fact
from cds.pipeline import Evaluation
from cds.ruleset.operators import OPERATORS
from cds.ruleset.schema import Lookup, Pattern, Rule, Where, conditions


@dataclass
class ConditionCheck:
    field: str
    op: str
    expected: Any
    actual: Any
    ok: bool

    def __str__(self) -> str:
        actual = "unknown" if self.actual is None else repr(self.actual)
        return f"{'✓' if self.ok else '✗'} {self.field} {OPERATORS[self.op].symbol} {self.expected!r} (actual {actual})"


@dataclass
class PatternCheck:
    pattern: str
    fact: Fact | None
    checks: list[ConditionCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.fact is not None and all(c.ok for c in self.checks)


def _check_where(where: Where, view: dict[str, Any], settings: Lookup) -> list[ConditionCheck]:
    return [
        ConditionCheck(f, op, expected, view.get(f), OPERATORS[op].holds(view.get(f), expected))
        for f, op, expected in conditions(where, settings)
    ]


def check_pattern(pat: Pattern, facts: list[Fact], ev: Evaluation) -> PatternCheck:
    """The best candidate fact for a pattern: a matching one, else the one failing fewest conditions."""
    settings = ev.knowledge.settings
    best: PatternCheck | None = None
    for fact in (f for f in facts if f.kind == pat.fact):
        view = fact.engine_view(ev.facts.as_of)
        checks = _check_where(pat.where, view, settings)
        if pat.any:
            alts = [_check_where(alt, view, settings) for alt in pat.any]
            winner = next(
                (a for a in alts if all(c.ok for c in a)), min(alts, key=lambda a: sum(not c.ok for c in a))
            )
            checks += winner
        candidate = PatternCheck(pat.name, fact, checks)
        if candidate.ok:
            return candidate
        if best is None or sum(not c.ok for c in checks) < sum(not c.ok for c in best.checks):
            best = candidate
    return best or PatternCheck(pat.name, None)


def explain_rule(rule: Rule, ev: Evaluation) -> tuple[bool, list[PatternCheck]]:
    facts = ev.facts.all()
    checks = [check_pattern(p, facts, ev) for p in rule.when]
    return all(c.ok for c in checks), checks


def explain_text(ev: Evaluation) -> str:
    fired = {f.rule_id for f in ev.firings}
    profile = ev.assessment.profile
    lines = [f"Why each rule fired or not ({profile}):"]
    for rule in sorted(ev.knowledge.ruleset.for_profile(profile), key=lambda r: r.id):
        _, checks = explain_rule(rule, ev)
        lines.append(f"{'FIRED ' if rule.id in fired else 'silent'} {rule.id} v{rule.version}: {rule.title}")
        for pc in checks:
            if pc.fact is None:
                lines.append(f"    {pc.pattern}: no {pc.pattern} fact in the record")
                continue
            refs = ", ".join(pc.fact.evidence[:4]) or "no FHIR resource (derived or absent)"
            lines.append(f"    {pc.pattern} [{refs}]")
            lines.extend(f"      {c}" for c in pc.checks)
    return "\n".join(lines)
