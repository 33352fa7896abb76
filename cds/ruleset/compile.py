"""Rules → durable-rules' JSON ruleset definitions (through the operator table), and the check that
no compiled rule has an unsafe shape (cross-fact references, rules on the context state)."""

from __future__ import annotations

from typing import Any

from cds.errors import RuleFileError
from cds.ruleset.operators import OPERATORS
from cds.ruleset.schema import Lookup, Rule, Where, conditions


class UnsafeRuleError(RuleFileError):
    def __init__(self, message: str) -> None:
        super().__init__(message, file="(compiled ruleset)")


def _terms(where: Where, settings: Lookup) -> list[dict[str, Any]]:
    return [term for f, op, value in conditions(where, settings) for term in OPERATORS[op].durable(f, value)]


def compile_rule(rule: Rule, settings: Lookup) -> dict[str, Any]:
    patterns = []
    for pat in rule.when:
        terms: list[dict[str, Any]] = [{"kind": pat.fact}, *_terms(pat.where, settings)]
        if pat.any:
            terms.append({"$or": [{"$and": _terms(alt, settings)} for alt in pat.any]})
        patterns.append({alias(pat.name): {"$and": terms}})
    return {"all": patterns}


def alias(name: str) -> str:
    """The durable-rules name of a pattern: durable reserves some single names (m, s)."""
    return "p_" + name


def pattern_name(durable_alias: str) -> str | None:
    return durable_alias[2:] if durable_alias.startswith("p_") else None


def check_safe(definition: dict[str, Any]) -> None:
    """Reject shapes that DEPENDENCIES.md measured as unsafe: every compared value must be a
    literal (a dict there would reference another fact: upstream #381), and no rule may read
    the context state `s` (re-asserted after every action: it loops forever)."""
    for rule_id, rule in definition.items():
        for pattern in rule.get("all", []):
            for alias, expr in pattern.items():
                if alias in ("s", "$s"):
                    raise UnsafeRuleError(f"{rule_id}: rules on the context state are not allowed")
                _literal_only(rule_id, expr)


def _literal_only(rule_id: str, expr: Any) -> None:
    if isinstance(expr, dict):
        for key, value in expr.items():
            if key in ("$and", "$or"):
                for sub in value:
                    _literal_only(rule_id, sub)
            elif key.startswith("$"):
                _literal_only(rule_id, value)
            elif isinstance(value, dict | list):
                raise UnsafeRuleError(
                    f"{rule_id}: {key} is compared with a non-literal (a cross-fact reference)"
                )
    elif isinstance(expr, list):
        raise UnsafeRuleError(f"{rule_id}: unexpected list in a condition")
