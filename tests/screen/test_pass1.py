"""Pass 1: a chunk of a type no fact reads is byte-checked on its own (`bulk.checked`), counting
what a scan of it counts; patient ids with whitespace name no patient."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds.screen import Row, bulk, run, screen
from tests.screen.test_inputs import _aneurysm, _encounter
from tests.screen.test_screen import SETTINGS, write_export


def _export(folder: Path) -> None:
    """The small export, an Encounter file that holds only Encounters, and a mislabelled one."""
    write_export(folder, broken=False)
    ok = [json.dumps(_encounter(pid, i), separators=(",", ":")) for pid in ("trd1", "trd2") for i in range(5)]
    (folder / "Encounter.ndjson").write_text("\n".join(ok) + "\n")
    wrong = [json.dumps(_encounter("trd1", 9), separators=(",", ":")), json.dumps(_aneurysm("trd1"))]
    (folder / "2.Encounter.ndjson").write_text("\n".join(wrong) + "\n")


def _rows(folder: Path, jobs: int) -> tuple[object, list[Row]]:
    rows: list[Row] = []
    summary = screen([folder], SETTINGS, rows.append, jobs=jobs)
    return summary, rows


def test_a_checked_chunk_counts_what_a_scan_of_it_counts(tmp_path: Path) -> None:
    _export(tmp_path / "e")
    read = run.reading()
    for name, passes in (("Encounter.ndjson", True), ("2.Encounter.ndjson", False)):
        [chunk] = bulk.chunks([tmp_path / "e" / name], read)
        assert chunk.skip_type == "Encounter"
        seen = bulk.Scan()
        records = list(bulk.scan(chunk, read, seen))
        if passes:
            assert records == [] and bulk.checked(chunk) == seen and seen.not_parsed == 10
        else:
            assert bulk.checked(chunk) is None and records


@pytest.mark.parametrize(
    ("pid", "kept"),
    [("abc-1.2", True), ("", False), ("a b", False), ("a\tb", False), ("a\u00a0b", False), (" a", False)],
)
def test_a_patient_id_with_whitespace_names_no_patient(pid: str, kept: bool) -> None:
    assert bulk.patient_of({"resourceType": "Patient", "id": pid}) == (pid if kept else None)
    ref = {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"}}
    assert bulk.patient_of(ref) == (pid if kept else None)
