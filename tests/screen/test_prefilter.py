"""Pass 1's memoised filter answers as the pipeline's own filter does, resource by resource; the
bucket ranges cover every bucket once, in order; bucket lines round-trip; a bucket whose worker
died still names its patients."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from cds.facts.relevance import filter_valuesets
from cds.facts.relevance import may_become_fact as judge
from cds.ingest.load import RawResource, flatten
from cds.knowledge import default_knowledge
from cds.screen import bulk, prefilter
from cds.synthetic import LOINC, PatientBuilder, trd_patient
from cds.terminology.remembered import RememberedValueSets
from tests.screen.test_screen import write_export


def _resources() -> list[RawResource]:
    b = PatientBuilder(birth_date="1980-01-01", pid="x")
    b.condition("F33.1", onset="2024-01-01")
    out = flatten(trd_patient("t").bundle(), "t") + flatten(b.bundle(), "x")
    routine = {
        "resourceType": "Observation",
        "id": "lab",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "2339-0", "display": "Glucose"}]},
        "subject": {"reference": "Patient/x"},
    }
    out.append(RawResource(routine, "lab"))
    uncoded = copy.deepcopy(routine)
    uncoded["code"] = {"text": "blood pressure"}
    out.append(RawResource(uncoded, "uncoded"))
    out.append(RawResource({**routine, "code": None}, "null code"))
    return out


def test_the_memoised_filter_equals_the_unremembering_filter_twice_over() -> None:
    knowledge = default_knowledge()
    plain = knowledge.valuesets  # the lookup without any memory
    resources = _resources()
    assert any(r.type == "Observation" and judge(r, knowledge, plain) for r in resources)
    assert any(r.type == "Observation" and not judge(r, knowledge, plain) for r in resources)
    memo = filter_valuesets(knowledge)
    assert isinstance(memo, RememberedValueSets)
    memo._answers.clear()
    for _ in range(2):  # the second pass answers from memory
        assert [prefilter.may_become_fact(r) for r in resources] == [
            judge(r, knowledge, plain) for r in resources
        ]
    assert memo.kept() > 0  # the codes were remembered


def test_bucket_ranges_cover_each_bucket_once_in_order() -> None:
    for buckets, parts in ((64, 8), (64, 7), (5, 8), (1, 1), (100, 3)):
        ranges = bulk.bucket_ranges(buckets, parts)
        assert [k for r in ranges for k in r] == list(range(buckets))
        assert all(len(r) for r in ranges) and len(ranges) == min(parts, buckets)


def test_bucket_lines_round_trip() -> None:
    records = [
        bulk.Record("p1", "Observation.ndjson byte 0", b'{"a":"b\\tc"}'),
        bulk.Record("p2", "x byte 9", b"", "not valid JSON (tab\there)\nnext"),
    ]
    back = list(bulk.decode(b"".join(bulk.encode(r) for r in records)))
    assert back[0] == records[0]
    assert back[1] == records[1]._replace(problem="not valid JSON (tab here) next")


def test_a_bucket_whose_worker_died_gets_an_error_row_per_patient(tmp_path: Path) -> None:
    from cds.screen.run import _bucket_failure, reading

    export = tmp_path / "e"
    write_export(export, broken=False)
    read = reading()
    files = sorted(export.glob("*.ndjson"))
    folder = tmp_path / "buckets"
    folder.mkdir()
    for chunk in bulk.chunks(files, read):
        bulk.partition_chunk(chunk, read, str(folder), 4, "0")
    patients = {g.patient for k in range(4) for g in bulk.read_bucket(folder, k)}
    assert patients == {"trd1", "trd2", "young", "nohistory", "viaref"}
    rows = [r for k in range(4) for r in _bucket_failure(folder, [k], "worker process died")]
    assert sorted(r.patient for r in rows) == sorted(patients)
    assert all(r.error == "worker process died" and r.indication is None for r in rows)


def test_reading_a_chunk_in_small_blocks_gives_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cds.screen.run import reading

    export = tmp_path / "e"
    write_export(export)  # with an unreadable line
    with (export / "Condition.ndjson").open("ab") as fh:
        fh.write(b"\r\n\n  \n" + (export / "Condition.ndjson").read_bytes().splitlines()[0] + b"\r\n")
    read = reading()

    def records() -> list[object]:
        seen = bulk.Scan()
        out = [
            r
            for f in sorted(export.glob("*.ndjson"))
            for c in bulk.chunks([f], read)
            for r in bulk.scan(c, read, seen)
        ]
        return [*out, seen]

    whole = records()
    for size in (7, 64, 1000):
        monkeypatch.setattr(bulk, "BLOCK_BYTES", size)
        assert records() == whole
