from cds.terminology.text import TextMatcher, load_text_matcher
from cds.terminology.valuesets import Match, ValueSet, ValueSets, load_valuesets

__all__ = ["Match", "TextMatcher", "ValueSet", "ValueSets", "load_text_matcher", "load_valuesets"]
