from cds.engine.durable_engine import Firing, RuleEngine

__all__ = ["Firing", "RuleEngine"]
