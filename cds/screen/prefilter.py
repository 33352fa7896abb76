"""Pass 1's filter: the pipeline's own pre-validation filter (`cds.facts.relevance.may_become_fact`)
under this process's default knowledge, as a picklable top-level function.

An export repeats a few hundred codes millions of times (every routine lab of every patient), and
matching a code against the value sets costs more than parsing its line: the answers are remembered
per distinct CodeableConcept by the value sets the filter matches against (`cds.terminology.remembered`,
one bounded memory for the filter and the fact builders, off when a terminology server is configured).
Dropping here is only an early copy of what `cds.pipeline.evaluate` does again per patient, so the
filter can never drop what the pipeline would keep (tests/screen/test_prefilter.py compares both).
"""

from __future__ import annotations

from cds.facts.relevance import filter_valuesets
from cds.facts.relevance import may_become_fact as judge
from cds.ingest.load import RawResource
from cds.knowledge import default_knowledge


def may_become_fact(res: RawResource) -> bool:
    """`cds.facts.relevance.may_become_fact` under this process's default knowledge (picklable)."""
    knowledge = default_knowledge()
    return judge(res, knowledge, filter_valuesets(knowledge))
