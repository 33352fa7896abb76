"""Rule files: schema, parsing, lint, the operator table, compilation to durable-rules, relevance."""

from cds.ruleset.loader import Ruleset, RulesetError, load_ruleset
from cds.ruleset.schema import Rule

__all__ = ["Rule", "Ruleset", "RulesetError", "load_ruleset"]
