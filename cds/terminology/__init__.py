from cds.terminology.valuesets import Match, ValueSet, ValueSets, load_valuesets

__all__ = ["Match", "ValueSet", "ValueSets", "load_valuesets"]
