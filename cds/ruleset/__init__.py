from cds.ruleset.loader import Ruleset, load_ruleset
from cds.ruleset.schema import Rule

__all__ = ["Rule", "Ruleset", "load_ruleset"]
