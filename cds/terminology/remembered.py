"""Value-set answers remembered per distinct CodeableConcept, when no terminology server is configured.

A population repeats the same few thousand codes (the same ICD-10, RxNorm and LOINC codes, patient
after patient, routine lab after routine lab), and matching one against the value sets' indexes and
hierarchical prefixes costs more than parsing its JSON. Without a terminology server the answer is a
function of the value sets and the concept alone, so it is computed once per process and kept.

With a server configured ($CDS_TERMINOLOGY_URL) nothing is remembered here: the server's answers may
change from one call to the next (a new release, a timeout inside one assessment's time budget), and
`cds.terminology.server.TerminologyClient` keeps the only cache of them, by its own rules.

Memory is bounded: at most `MAX_CONCEPTS` answers per loaded value sets (at most 4 loaded), the least
recently used dropped first. An answer to a one-coding concept takes about 0.3 KB (key text, stored
matches), so a full memory is about 15 MB; a typical record has a few dozen distinct coded concepts.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache

import orjson

from cds.terminology.server import ENV_URL
from cds.terminology.valuesets import Match, ValueSets

MAX_CONCEPTS = 50_000  # distinct (value sets asked, CodeableConcept) answers kept per loaded value sets

_NO_MATCH: dict[str, list[Match]] = {}  # the one stored answer of every concept no value set holds


# os.environ.get raises and catches a KeyError inside when the variable is absent (0.8 us), and pass
# 1's filter asks once per resource: where CPython keeps the mapping os.environ reads and writes
# (`_data`, updated by every os.environ assignment), it is read directly (0.05 us).
_ENV_DATA: dict[object, object] | None = getattr(os.environ, "_data", None)
_ENV_KEY: object = os.environ.encodekey(ENV_URL) if hasattr(os.environ, "encodekey") else ENV_URL


def server_configured() -> bool:
    """Whether assessments may ask a terminology server (then nothing is remembered here)."""
    if _ENV_DATA is not None:
        return bool(_ENV_DATA.get(_ENV_KEY))
    return bool(os.environ.get(ENV_URL))


def remembered(vs: ValueSets) -> ValueSets:
    """`vs` remembering its answers, or `vs` itself when a terminology server is configured or `vs`
    asks one (a placer): those answers are not a function of the concept alone."""
    if vs.placer is not None or server_configured():
        return vs
    return _remembering(vs)


@lru_cache(maxsize=4)  # one per loaded knowledge (a service holds one; impact analysis two)
def _remembering(vs: ValueSets) -> RememberedValueSets:
    return RememberedValueSets(vs)


class RememberedValueSets(ValueSets):
    """The same value sets, answering `match_concept_in` (and so `match_concept`) once per distinct
    (value sets asked, CodeableConcept), in a least-recently-used memory of `size` answers.

    Callers get their own dict and lists (the Matches are frozen), so no caller can change another's
    answer. Safe across threads (the service assesses on a thread pool) without a lock."""

    def __init__(self, vs: ValueSets, size: int = MAX_CONCEPTS) -> None:  # no super().__init__:
        if vs.placer is not None:
            raise ValueError("a terminology server's answers are not remembered: value sets with a placer")
        if size < 1:
            raise ValueError(f"memory size must be at least 1, not {size}")
        # the same read-only indexes as `vs`, not rebuilt: they hold every expansion (megabytes)
        self.__dict__.update(vs.__dict__)
        self.size = size
        self._answers: OrderedDict[tuple[tuple[str, ...], str], dict[str, list[Match]]] = OrderedDict()

    def kept(self) -> int:
        """How many answers are remembered. (Not __len__: an empty memory must not read as false.)"""
        return len(self._answers)

    def match_concept_in(self, vs_ids: Sequence[str], concept: object) -> dict[str, list[Match]]:
        if not isinstance(concept, dict) or not concept:
            return {}
        ids = tuple(vs_ids)
        try:
            # str, not orjson's bytes: each of those holds a 4 KB buffer (orjson 3.13), 20x the text
            key = (ids, orjson.dumps(concept).decode())
        except TypeError:  # not JSON (a caller's own object): answered, not remembered
            return super().match_concept_in(ids, concept)
        # No lock: each OrderedDict operation is atomic under the GIL; another thread may drop the
        # key between two of them (KeyError, ignored) or both may drop one answer (a bound still kept).
        answers = self._answers
        found = answers.get(key)
        if found is not None:
            try:  # noqa: SIM105 (the hot path: try is free in 3.11, contextlib.suppress is not)
                answers.move_to_end(key)
            except KeyError:
                pass
        else:
            found = super().match_concept_in(ids, concept) or _NO_MATCH
            answers[key] = found
            while len(answers) > self.size:
                try:
                    answers.popitem(last=False)
                except KeyError:
                    break
        if found is _NO_MATCH:
            return {}
        return {vs_id: list(matches) for vs_id, matches in found.items()}
