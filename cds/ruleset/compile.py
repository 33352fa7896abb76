"""Rules → durable-rules' JSON ruleset definitions, and the check that no compiled rule has an
unsafe shape (cross-fact references, rules on the context state)."""

from __future__ import annotations

from typing import Any

from cds.ruleset.loader import comparisons, resolve
from cds.ruleset.schema import Rule, Where
from cds.settings import Settings

_OPS = {"lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte", "ne": "$neq"}


class UnsafeRuleError(ValueError):
    pass


def _terms(where: Where, settings: Settings) -> list[dict[str, Any]]:
    terms: list[dict[str, Any]] = []
    for fname, cond in where.items():
        for op, raw in comparisons(cond):
            value = resolve(raw, settings)
            if op == "eq":
                terms.append({fname: value})
            elif op == "in":
                terms.append({"$or": [{fname: v} for v in value]})
            elif op == "not_in":
                terms.extend({"$neq": {fname: v}} for v in value)
            else:
                terms.append({_OPS[op]: {fname: value}})
    return terms


def compile_rule(rule: Rule, settings: Settings) -> dict[str, Any]:
    patterns = []
    for pat in rule.when:
        terms: list[dict[str, Any]] = [{"kind": pat.fact}, *_terms(pat.where, settings)]
        if pat.any:
            terms.append({"$or": [{"$and": _terms(alt, settings)} for alt in pat.any]})
        patterns.append({_alias(pat.name): {"$and": terms}})
    return {"all": patterns}


def _alias(name: str) -> str:
    return "p_" + name  # durable reserves some single names (m, s); prefixing avoids them


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
