"""The one table of condition operators: the symbol a reader sees, the Python test (`--explain`,
relevance pruning) and the durable-rules form the compiler emits. A new operator is one row.

Semantics shared by every reader of the table: an unknown (absent) value never matches, and a
comparison between values of different types does not match in Python. durable-rules is more
lenient ('6' > 5 matches there), so relevance pruning treats such a pair as "may match" and only
drops a fact when both sides are of one clean type (see `certainly_false`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Durable = Callable[[str, Any], list[dict[str, Any]]]


@dataclass(frozen=True)
class Operator:
    name: str  # as written in a rule file
    symbol: str  # as shown by --explain
    phrase: str  # as the rule catalogue reads it
    test: Callable[[Any, Any], bool]  # (actual, expected) -> holds
    durable: Durable  # (field, expected) -> durable-rules terms, all of which must hold
    takes_list: bool = False

    def holds(self, actual: Any, expected: Any) -> bool:
        if actual is None:
            return False
        try:
            return bool(self.test(actual, expected))
        except TypeError:
            return False


def _cmp(op: str) -> Durable:
    return lambda f, v: [{op: {f: v}}]


OPERATORS: dict[str, Operator] = {
    o.name: o
    for o in (
        Operator("eq", "=", "is", lambda a, e: a == e, lambda f, v: [{f: v}]),
        Operator("ne", "≠", "is not", lambda a, e: a != e, _cmp("$neq")),
        Operator("lt", "<", "is under", lambda a, e: a < e, _cmp("$lt")),
        Operator("le", "≤", "is at most", lambda a, e: a <= e, _cmp("$lte")),
        Operator("gt", ">", "is over", lambda a, e: a > e, _cmp("$gt")),
        Operator("ge", "≥", "is at least", lambda a, e: a >= e, _cmp("$gte")),
        Operator(
            "in", "in", "is one of", lambda a, e: a in e, lambda f, v: [{"$or": [{f: x} for x in v]}], True
        ),
        Operator(
            "not_in",
            "not in",
            "is none of",
            lambda a, e: a not in e,
            lambda f, v: [{"$neq": {f: x}} for x in v],
            True,
        ),
    )
}
NUMERIC = frozenset({"lt", "le", "gt", "ge"})


def _clean(a: object, b: object) -> bool:
    """One plain type on both sides, so Python's comparison is durable's."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return isinstance(a, str) and isinstance(b, str)


def certainly_false(op: str, actual: Any, expected: Any) -> bool:
    """True only when durable-rules cannot match either: the value is present, every compared
    value is of the fact value's own clean type, and the Python test fails."""
    if actual is None:
        return False
    values = expected if OPERATORS[op].takes_list else [expected]
    if not all(_clean(actual, v) for v in values):
        return False
    return not OPERATORS[op].holds(actual, expected)
