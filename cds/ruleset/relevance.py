"""Which facts could match some rule pattern, decided from the rules before assertion.

Every fact asserted into durable-rules costs its JSON encoding and alpha matching, and a place in
the catch-all rule's one action per evaluation (before that rule took all waiting facts at once,
each fact cost one action, about 15 µs with 55 rules). A fact that no pattern can match changes no
firing, so it is dropped before assertion. Since that change, judging a fact costs more than
asserting it, so `cds.engine.RuleEngine` prunes only when asked (`prune=True`; bench/cases.py
engine_scaling measures both). The catch-all stays: durable raises on a fact no rule
matches, and our reading of durable's semantics may be narrower than durable's own.

Soundness: a fact is dropped only when, for every pattern of its kind, some condition is
*certainly* false by the operator table (`operators.certainly_false`: both sides of one clean
type and the comparison fails). Anything else counts as "may match" and the fact is kept.
"""

from __future__ import annotations

from typing import Any

from cds.ruleset.operators import certainly_false
from cds.ruleset.schema import Lookup, Rule, conditions

_Conds = list[tuple[str, str, Any]]


def _fails(conds: _Conds, view: dict[str, Any]) -> bool:
    return any(certainly_false(op, view.get(f), value) for f, op, value in conds)


class Relevance:
    """`may_match(view)`: False only when no pattern of any rule can match the fact's view."""

    def __init__(self, rules: list[Rule], settings: Lookup) -> None:
        self._by_kind: dict[str, list[tuple[_Conds, list[_Conds]]]] = {}
        for rule in rules:
            for pat in rule.when:
                self._by_kind.setdefault(pat.fact, []).append(
                    (conditions(pat.where, settings), [conditions(alt, settings) for alt in pat.any])
                )

    @property
    def kinds(self) -> frozenset[str]:
        """Fact kinds some rule pattern names."""
        return frozenset(self._by_kind)

    def may_match(self, view: dict[str, Any]) -> bool:
        for where, alternatives in self._by_kind.get(str(view.get("kind")), ()):
            if _fails(where, view):
                continue
            if alternatives and all(_fails(alt, view) for alt in alternatives):
                continue
            return True
        return False
