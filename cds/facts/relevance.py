"""Which resources can become facts at all, decided from their codes before anything is validated.

An Observation, Condition or Procedure whose code is in no value set the facts use (a routine lab,
a cold) is never read: like a resource type no fact uses, it is skipped, not validated. This is
most of a real record (Synthea's labs and vitals), and validating it cost more than the rules."""

from __future__ import annotations

from cds.facts.conditions import CONDITION_VALUESETS
from cds.facts.observations import OBSERVATION_VALUESETS, PROCEDURE_VALUESETS
from cds.facts.unplaced import PROCEDURE_IMPLIES, worth_reading
from cds.ingest.load import RawResource
from cds.knowledge import Knowledge

_BY_TYPE: dict[str, tuple[str, ...]] = {
    "Observation": tuple(OBSERVATION_VALUESETS),
    "Condition": tuple(CONDITION_VALUESETS),
    "Procedure": (*PROCEDURE_VALUESETS, *PROCEDURE_IMPLIES),
}


def may_become_fact(res: RawResource, knowledge: Knowledge) -> bool:
    valuesets = knowledge.valuesets
    vs_ids = _BY_TYPE.get(res.type)
    if vs_ids is None:
        return True  # other types are judged by their own builders
    if valuesets.match_concept_in(vs_ids, res.data.get("code")):
        return True
    # Uncoded or unplaced Conditions and Procedures: their words are read (cds/facts/unplaced.py).
    return res.type in ("Condition", "Procedure") and worth_reading(res, knowledge.text_matcher)
