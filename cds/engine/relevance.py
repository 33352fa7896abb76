"""Which facts could match some rule pattern, decided from the compiled ruleset before assertion.

Every fact asserted into durable-rules costs its alpha matching plus one firing of the catch-all
rule (an action call and a JSON round trip of the state: about 15 µs per fact measured with 55
rules, `bench/run.py`). A fact that no pattern can match changes no firing, so it is dropped
before assertion. The catch-all stays: durable raises on a fact no rule matches (and one such
fact aborts the whole batch), and our reading of durable's comparison semantics may be narrower
than durable's own.

Soundness: a fact is dropped only when, for every pattern of its kind, some literal condition is
*certainly* false: both sides of the comparison are of the same clean type (str, bool, or a
number that is not a bool) and the comparison fails. Anything else (a missing property, mixed
types such as '6' > 5, which durable does match, an operator not understood here) counts as
"may match" and the fact is kept. Patterns are literal-only: `check_safe` refuses cross-fact
references before this runs.
"""

from __future__ import annotations

from typing import Any

_CMP = {
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
}


class Relevance:
    """`may_match(fact)`: False only when no pattern of any rule can match the fact."""

    def __init__(self, definitions: dict[str, dict[str, Any]]) -> None:
        self._by_kind: dict[str, list[Any]] = {}
        self._any_kind: list[Any] = []  # patterns without a literal kind: checked against every fact
        for rule in definitions.values():
            for pattern in rule.get("all", []):
                for expr in pattern.values():
                    kind = _literal_kind(expr)
                    (self._by_kind.setdefault(kind, []) if kind is not None else self._any_kind).append(expr)

    @property
    def kinds(self) -> frozenset[str]:
        """Fact kinds some rule pattern names."""
        return frozenset(self._by_kind)

    def may_match(self, fact: dict[str, Any]) -> bool:
        patterns = [*self._by_kind.get(str(fact.get("kind")), ()), *self._any_kind]
        return any(_may(expr, fact) for expr in patterns)


def _literal_kind(expr: Any) -> str | None:
    """The kind a pattern requires (compile_rule puts `{"kind": k}` first in its `$and`)."""
    if isinstance(expr, dict):
        if isinstance(expr.get("kind"), str) and len(expr) == 1:
            return str(expr["kind"])
        for term in expr.get("$and", []) if isinstance(expr.get("$and"), list) else []:
            if isinstance(term, dict) and len(term) == 1 and isinstance(term.get("kind"), str):
                return str(term["kind"])
    return None


def _clean(a: object, b: object) -> bool:
    """Same plain type on both sides, so Python's comparison is durable's."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return isinstance(a, str) and isinstance(b, str)


def _may(expr: Any, fact: dict[str, Any]) -> bool:
    """False only if `expr` is certainly false for `fact`."""
    if not isinstance(expr, dict):
        return True
    if len(expr) != 1:
        return all(_may({k: v}, fact) for k, v in expr.items())
    ((key, value),) = expr.items()
    if key == "$and" and isinstance(value, list):
        return all(_may(term, fact) for term in value)
    if key == "$or" and isinstance(value, list):
        return any(_may(term, fact) for term in value)
    if key in _CMP or key == "$neq":
        if not isinstance(value, dict) or len(value) != 1:
            return True
        ((field, literal),) = value.items()
        if field not in fact or not _clean(fact[field], literal):
            return True
        if key == "$neq":
            return bool(fact[field] != literal)
        return bool(_CMP[key](fact[field], literal))
    if key.startswith("$"):
        return True  # an operator not read here ($ex, $nex, $mt, ...): keep the fact
    if key not in fact or not _clean(fact[key], value):
        return True
    return bool(fact[key] == value)
