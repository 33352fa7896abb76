"""Which resources can become facts at all, decided from their codes before anything is validated.

An Observation, Condition or Procedure whose code is in no value set the facts use (a routine lab,
a cold) is never read: like a resource type no fact uses, it is skipped, not validated. This is
most of a real record (Synthea's labs and vitals), and validating it cost more than the rules."""

from __future__ import annotations

from cds.facts.requirements import CODED_READS
from cds.facts.unplaced import worth_reading
from cds.ingest.load import RawResource
from cds.knowledge import Knowledge
from cds.terminology.remembered import remembered
from cds.terminology.valuesets import ValueSets


def filter_valuesets(knowledge: Knowledge) -> ValueSets:
    """The value sets `may_become_fact` matches against: the committed ones, remembering their answers
    unless a terminology server is configured. Never the server itself: a code only a server could
    place is kept by `worth_reading` (Conditions, Procedures; no Observation value set has a root a
    server could place a code under), so the filter costs no server call."""
    return remembered(knowledge.valuesets)


def may_become_fact(res: RawResource, knowledge: Knowledge, valuesets: ValueSets | None = None) -> bool:
    """`valuesets`: `filter_valuesets(knowledge)`, when the caller judges many resources."""
    coded = CODED_READS.get(res.type)
    if coded is None:
        return True  # other types are judged by their own builders
    vs = valuesets if valuesets is not None else filter_valuesets(knowledge)
    if vs.match_concept_in(coded.valuesets, res.data.get("code")):
        return True
    # Uncoded or unplaced Conditions and Procedures: their words are read (cds/facts/unplaced.py).
    return coded.words and worth_reading(res, knowledge.text_matcher)
