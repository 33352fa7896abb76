"""Pass 1's filter: the pipeline's own pre-validation filter (`cds.facts.relevance.may_become_fact`),
judged once per distinct code for the types judged by their code alone.

An export repeats a few hundred codes millions of times (every routine lab of every patient), and
matching a code against the value sets costs more than parsing its line. A type whose
`CodedRead.words` is False (Observation) is read or not by its `code` alone, so the answer for one
code holds for every resource of that type with the same code. Other types are judged one by one.
Dropping here is only an early copy of what `cds.pipeline.evaluate` does again per patient, so the
filter can never drop what the pipeline would keep (tests/screen/test_prefilter.py compares both).
"""

from __future__ import annotations

import orjson

from cds.facts.relevance import may_become_fact as judge
from cds.facts.requirements import CODED_READS
from cds.ingest.load import RawResource
from cds.knowledge import Knowledge, default_knowledge

MAX_CODES = 100_000  # distinct codes remembered per process; then start afresh (memory stays bounded)

_by_code: dict[tuple[str, bytes], bool] = {}
_judged_by: list[Knowledge] = []  # the knowledge the remembered answers come from


def may_become_fact(res: RawResource) -> bool:
    """`cds.facts.relevance.may_become_fact` under this process's default knowledge (picklable)."""
    knowledge = default_knowledge()
    rtype = res.data.get("resourceType")
    if rtype not in _BY_CODE:
        return judge(res, knowledge)
    if not _judged_by or _judged_by[0] is not knowledge or len(_by_code) >= MAX_CODES:
        _by_code.clear()
        _judged_by[:] = [knowledge]
    key = (rtype, orjson.dumps(res.data.get("code")))
    known = _by_code.get(key)
    if known is None:
        known = _by_code[key] = judge(res, knowledge)
    return known


_BY_CODE = frozenset(t for t, c in CODED_READS.items() if not c.words)
