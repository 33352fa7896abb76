"""The one memory of value-set answers (cds/terminology/remembered.py): the same answers as the plain
lookup, off when a terminology server is configured, bounded."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds.facts.relevance import filter_valuesets
from cds.facts.requirements import CODED_READS
from cds.knowledge import default_knowledge
from cds.pipeline import evaluate
from cds.synthetic import LOINC
from cds.terminology import load_valuesets
from cds.terminology import server as srv
from cds.terminology.remembered import MAX_CONCEPTS, RememberedValueSets, _remembering, remembered
from cds.terminology.server import ServerPlacer
from cds.terminology.valuesets import ValueSets
from tests.terminology.test_server import BASE, FakeServer, _client, _popliteal_patient

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir" / "examples"
PLAIN = load_valuesets()


def _every_code_concept(vs: ValueSets) -> Iterator[tuple[str, dict[str, Any]]]:
    """A CodeableConcept for every code, is-a root (and a code below it) and name of every value set,
    under every system alias too."""
    aliases: dict[str, list[str]] = {}
    for alias, system in vs._aliases.items():
        aliases.setdefault(system, []).append(alias)
    for vs_id in vs.ids():
        one = vs.get(vs_id)
        codes = [(s, c, d) for (s, c), (d, _) in one.exact.items()]
        codes += [(s, c, d) for s, c, d, _ in one.prefixes]
        codes += [(s, c + ".9", d) for s, c, d, _ in one.prefixes if vs.is_hierarchical(s)]
        for system, code, display in codes:
            for sys_ in (system, *aliases.get(system, [])):
                yield vs_id, {"coding": [{"system": sys_, "code": code}]}
                yield vs_id, {"coding": [{"system": sys_, "code": code, "display": display}], "text": display}
        for _pattern, system, _code, name in one.names:
            yield vs_id, {"text": name}
            yield vs_id, {"coding": [{"system": system, "code": "not-a-code", "display": f"{name} 10 mg"}]}


def _concepts_in(obj: object) -> Iterator[dict[str, Any]]:
    """Every CodeableConcept-shaped dict (a coding list or a text) anywhere in a resource."""
    if isinstance(obj, dict):
        if "coding" in obj or ("text" in obj and isinstance(obj.get("text"), str)):
            yield obj
        for value in obj.values():
            yield from _concepts_in(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _concepts_in(item)


def _same_answers(concepts: list[tuple[str | None, dict[str, Any]]]) -> None:
    """Asked as the callers ask: all value sets together, each coded read's, the concept's own alone."""
    asked = [tuple(PLAIN.ids())] + [c.valuesets for c in CODED_READS.values()]
    cases = [
        (ids, concept, PLAIN.match_concept_in(ids, concept))
        for own, concept in concepts
        for ids in asked + ([(own,)] if own else [])
    ]
    memo = RememberedValueSets(PLAIN)
    for _ in range(2):  # the second round answers from memory
        for ids, concept, expected in cases:
            assert memo.match_concept_in(ids, concept) == expected, (ids, concept)
    assert memo.kept() > 0, "nothing was remembered: the comparison proved nothing"


def test_the_memo_answers_as_the_plain_lookup_for_every_code_of_every_value_set() -> None:
    concepts: list[tuple[str | None, dict[str, Any]]] = list(_every_code_concept(PLAIN))
    assert len(concepts) > 2000
    assert all(PLAIN.match_concept_in((own,), c) for own, c in concepts if "text" in c)
    _same_answers(concepts)


def test_the_memo_answers_as_the_plain_lookup_on_the_example_patients() -> None:
    concepts: list[tuple[str | None, dict[str, Any]]] = [
        (None, c)
        for path in sorted(EXAMPLES.glob("*.json"))
        for c in _concepts_in(orjson.loads(path.read_bytes()))
    ]
    assert len(concepts) > 50
    _same_answers(concepts)


def test_a_caller_cannot_change_another_callers_answer() -> None:
    memo = RememberedValueSets(PLAIN)
    concept = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"}]}
    first = memo.match_concept_in(tuple(PLAIN.ids()), concept)
    assert first
    first.clear()
    again = memo.match_concept_in(tuple(PLAIN.ids()), concept)
    assert again == PLAIN.match_concept_in(tuple(PLAIN.ids()), concept)
    next(iter(again.values())).clear()
    assert memo.match_concept_in(tuple(PLAIN.ids()), concept) == PLAIN.match_concept_in(
        tuple(PLAIN.ids()), concept
    )


def _lab(i: int) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": f"9{i:04d}-0"}]}


def test_the_memory_is_bounded_and_drops_the_least_recently_used() -> None:
    memo = RememberedValueSets(PLAIN, size=8)
    ids = tuple(PLAIN.ids())
    kept = {"coding": [{"system": LOINC, "code": "8480-6"}]}  # systolic blood pressure
    memo.match_concept_in(ids, kept)
    for i in range(100):
        memo.match_concept_in(ids, _lab(i))
        memo.match_concept_in(ids, kept)  # used again each time: never the least recently used
        assert memo.kept() <= 8
    assert memo.kept() == 8
    remembered_keys = {key for _, key in memo._answers}
    assert orjson.dumps(kept).decode() in remembered_keys
    assert orjson.dumps(_lab(0)).decode() not in remembered_keys  # the oldest unused answers went first
    assert orjson.dumps(_lab(99)).decode() in remembered_keys
    assert memo.match_concept_in(ids, kept) == PLAIN.match_concept_in(ids, kept)
    assert memo.match_concept_in(ids, _lab(0)) == {}


def test_an_answer_takes_well_under_a_kilobyte() -> None:
    # The bound in answers is a bound in memory only if each answer is small: a key kept as orjson's
    # bytes held a 4 KB buffer each (50,000 answers: 200 MB).
    memo = RememberedValueSets(PLAIN, size=10_000)
    ids = CODED_READS["Condition"].valuesets
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    concepts = [
        {"coding": [{"system": icd, "code": f"F33.{i}", "display": "Major depressive disorder"}]}
        for i in range(1000)
    ]
    concepts += [{"coding": [{"system": LOINC, "code": f"{i}-9", "display": "Glucose"}]} for i in range(1000)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for concept in concepts:
            memo.match_concept_in(ids, concept)
        gc.collect()
        per_answer = (tracemalloc.get_traced_memory()[0] - before) / memo.kept()
    finally:
        tracemalloc.stop()
    assert memo.kept() == 2000
    assert per_answer < 1000, f"{per_answer:.0f} bytes per remembered answer"


def test_the_shared_memory_has_the_documented_bound() -> None:
    memo = _remembering(PLAIN)
    assert isinstance(memo, RememberedValueSets) and memo.size == MAX_CONCEPTS


def test_value_sets_asking_a_server_are_not_remembered() -> None:
    with _client(FakeServer()) as client:
        placed = PLAIN.with_placer(ServerPlacer(client, PLAIN.is_a_roots()))
        assert remembered(placed) is placed
        with pytest.raises(ValueError, match="placer"):
            RememberedValueSets(placed)
    with pytest.raises(ValueError, match="at least 1"):
        RememberedValueSets(PLAIN, size=0)


@pytest.fixture
def memo() -> RememberedValueSets:
    """The process's memory of the default knowledge's value sets, emptied."""
    found = _remembering(default_knowledge().valuesets)
    found._answers.clear()
    return found


def test_without_a_server_an_assessment_fills_the_memory(
    memo: RememberedValueSets, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control for the test below: the memory this looks at is the one assessments use.
    monkeypatch.delenv(srv.ENV_URL, raising=False)
    knowledge = default_knowledge()
    assert remembered(knowledge.valuesets) is memo and filter_valuesets(knowledge) is memo
    evaluate(_popliteal_patient(), as_of=date(2025, 6, 2))
    assert memo.kept() > 0


def test_with_a_server_configured_nothing_is_remembered(
    memo: RememberedValueSets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(srv.ENV_URL, BASE)
    knowledge = default_knowledge()
    assert remembered(knowledge.valuesets) is knowledge.valuesets
    assert filter_valuesets(knowledge) is knowledge.valuesets
    for subsumed, verdict in (
        ({"999000001": "432119003"}, "contraindicated"),  # the server places the popliteal aneurysm
        ({"999000001": "0"}, "insufficient-data"),  # a new server release that does not: this answer counts
    ):
        client = _client(FakeServer(subsumed=subsumed))
        monkeypatch.setattr(srv, "_CLIENT", client)
        try:
            a = evaluate(_popliteal_patient(), as_of=date(2025, 6, 2)).assessment
        finally:
            client.close()
        assert next(p.verdict for p in a.products if p.product == "esketamine") == verdict
    assert memo.kept() == 0, "answers were remembered while a terminology server was configured"


def test_no_observation_value_set_has_a_root_a_server_could_place_a_code_under() -> None:
    # The pre-validation filter matches Observations against the committed value sets only (no
    # server call, cds/facts/relevance.py): that drops nothing only while this holds.
    roots = PLAIN.is_a_roots()
    assert not [vs_id for vs_id in CODED_READS["Observation"].valuesets if vs_id in roots]
    assert roots, "no value set has a non-hierarchical is-a root: the check above proves nothing"


def test_the_server_setting_is_read_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    from cds.terminology.remembered import server_configured

    monkeypatch.setenv(srv.ENV_URL, BASE)
    assert server_configured()
    monkeypatch.setenv(srv.ENV_URL, "")
    assert not server_configured()  # set but empty: no server, as client_from_env reads it
    monkeypatch.delenv(srv.ENV_URL)
    assert not server_configured()


def test_threads_sharing_a_small_memory_get_right_answers_within_the_bound() -> None:
    from concurrent.futures import ThreadPoolExecutor

    memo = RememberedValueSets(PLAIN, size=16)
    ids = tuple(PLAIN.ids())
    concepts = [c for _, c in list(_every_code_concept(PLAIN))[:200]] + [_lab(i) for i in range(200)]
    expected = [PLAIN.match_concept_in(ids, c) for c in concepts]

    def work(offset: int) -> bool:
        order = concepts[offset:] + concepts[:offset]
        wanted = expected[offset:] + expected[:offset]
        return all(memo.match_concept_in(ids, c) == e for c, e in zip(order, wanted, strict=True))

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(work, [0, 50, 100, 150, 200, 250, 300, 350] * 3))
    assert memo.kept() <= 16
