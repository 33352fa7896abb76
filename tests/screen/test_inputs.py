"""What `cds screen` reads: Bulk files of types no fact reads are never parsed (unless they are not
what their name says), and CDS Hooks request files are not patients."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds.ingest.validate import USED_TYPES
from cds.screen import Row, bulk, screen
from cds.screen.run import reading
from cds.synthetic import PatientBuilder
from tests.screen.test_screen import SETTINGS, write_export

ROOT = Path(__file__).resolve().parents[2]


def _encounter(pid: str, i: int) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"{pid}-e{i}",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": f"Patient/{pid}"},
    }


def _aneurysm(pid: str) -> dict[str, Any]:
    b = PatientBuilder(birth_date="1970-01-01", pid=pid)
    b.condition("I67.1", display="Cerebral aneurysm, nonruptured", onset="2020-01-01")
    return next(e["resource"] for e in b.bundle()["entry"] if e["resource"]["resourceType"] == "Condition")


class _CountingLoads:
    """orjson stand-in for cds.screen.bulk that records the resource type of every line parsed."""

    def __init__(self) -> None:
        self.types: list[str] = []
        self.JSONDecodeError = orjson.JSONDecodeError

    def loads(self, data: bytes) -> Any:
        obj = orjson.loads(data)
        self.types.append(obj.get("resourceType") if isinstance(obj, dict) else "?")
        return obj


def _screen(folder: Path) -> tuple[Any, dict[str, Row]]:
    rows: list[Row] = []
    summary = screen([folder], SETTINGS, rows.append, jobs=1)
    return summary, {r.patient: r for r in rows}


def test_the_types_skipped_are_the_ones_no_fact_reads() -> None:
    read = reading()
    assert read.used == USED_TYPES
    assert {"Patient", "Condition", "Observation", "MedicationStatement", "Medication"} <= read.used
    assert not {"Encounter", "Claim", "ExplanationOfBenefit", "Immunization"} & read.used
    for name, expected in [
        ("Encounter.ndjson", "Encounter"),
        ("1.Encounter.ndjson", "Encounter"),
        ("Encounter.003.ndjson", "Encounter"),
        ("Claim_2.ndjson", "Claim"),
        ("export.ndjson", None),
        ("Encounter-Claim.ndjson", None),  # names two types: read it
    ]:
        assert bulk.declared_type(Path(name), read.known) == expected, name


def test_files_of_types_no_fact_reads_are_never_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_export(tmp_path / "e", broken=False)
    for name, separators in (
        ("Encounter.ndjson", (",", ":")),
        ("2.Encounter.ndjson", None),
    ):  # compact, spaced
        lines = [
            json.dumps(_encounter(pid, i), separators=separators)
            for pid in ("trd1", "trd2")
            for i in range(25)
        ]
        (tmp_path / "e" / name).write_text("\n".join(lines) + "\n")
    counting = _CountingLoads()
    monkeypatch.setattr(bulk, "orjson", counting)
    summary, rows = _screen(tmp_path / "e")
    assert "Encounter" not in counting.types and "Condition" in counting.types
    assert summary.not_parsed == 100
    assert rows["trd1"].indication == "eligible" and not summary.unusable


def test_a_mislabelled_file_is_read_and_its_contraindication_found(tmp_path: Path) -> None:
    """A Condition inside Encounter.ndjson: the byte check fails, the file is read line by line."""
    write_export(tmp_path / "e", broken=False)
    lines = [json.dumps(_encounter("trd1", i), separators=(",", ":")) for i in range(3)]
    lines.append(json.dumps({**_aneurysm("trd1"), "id": "aneurysm"}))
    (tmp_path / "e" / "Encounter.ndjson").write_text("\n".join(lines) + "\n")
    _, rows = _screen(tmp_path / "e")
    assert rows["trd1"].esketamine == "contraindicated"
    assert "aneurysmal-vascular-disease" in rows["trd1"].contraindications


def test_two_resources_glued_on_one_line_are_not_skipped(tmp_path: Path) -> None:
    write_export(tmp_path / "e", broken=False)
    glued = json.dumps(_encounter("trd1", 0), separators=(",", ":")) + json.dumps(_aneurysm("trd1"))
    (tmp_path / "e" / "Encounter.ndjson").write_text(glued + "\n")
    summary, rows = _screen(tmp_path / "e")
    assert rows["trd1"].incomplete is not None and rows["trd1"].esketamine != "appropriate"
    assert summary.unusable


def test_cds_hooks_requests_in_a_folder_are_not_patients(tmp_path: Path) -> None:
    folder = tmp_path / "examples"
    shutil.copytree(ROOT / "fhir" / "examples", folder)
    hooks = sorted(p.name for p in (folder / "hooks").glob("*.json"))
    patients = sorted(p.name for p in folder.glob("*.json"))
    assert hooks and patients
    rows: list[Row] = []
    summary = screen([folder], SETTINGS, rows.append, jobs=1)
    assert sorted(r.source for r in rows) == patients
    assert all(r.error is None for r in rows), [r.error for r in rows]
    assert sorted(s.split(" ")[0] for s in summary.skipped) == hooks
    assert not summary.unusable


@pytest.mark.slow
def test_cds_screen_on_the_examples_folder_exits_0(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cds.screen",
            str(ROOT / "fhir" / "examples"),
            "--as-of",
            "2025-06-02",
            "--jobs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1 + len(list((ROOT / "fhir" / "examples").glob("*.json")))
    assert "patient-view-trd.json" in proc.stderr and "not patient records" in proc.stderr


@pytest.mark.parametrize(
    ("data", "skipped"),
    [
        (b'{"resourceType":"Encounter","id":"1"}\n{"resourceType":"Encounter","id":"2"}\n', True),
        (b'{"resourceType": "Encounter","id":"1"}\r\n{"resourceType": "Encounter","id":"2"}', True),
        (b'{"resourceType":"Encounter","id":"1"}\n{"resourceType":"Condition","id":"2"}\n', False),
        (b'{"resourceType":"Encounter","contained":[{"resourceType":"Condition"}]}\n', False),
        (b'{"resourceType":"Encounter","id":"1"}\n\n{"resourceType":"Encounter","id":"2"}\n', False),
        (b'{"id":"1","resourceType":"Encounter"}\n', False),  # not the first key: parse it
        (b"", False),
    ],
)
def test_the_byte_check_skips_only_files_that_hold_one_type(data: bytes, skipped: bool) -> None:
    assert bulk.only_of_type(data, "Encounter") is skipped


def test_an_unreadable_export_file_is_an_input_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a traceback (a PermissionError from deep in pass 1 was one): the file named, exit 2 in
    the CLI like every other InputError. Permissions are faked: tests run as root, who reads all."""
    from cds.errors import InputError

    path = tmp_path / "Condition.ndjson"
    path.write_bytes(orjson.dumps(_aneurysm("p1")) + b"\n")
    monkeypatch.setattr("cds.screen.run.os.access", lambda f, mode: False)
    with pytest.raises(InputError, match="cannot be read") as raised:
        screen([path], SETTINGS, lambda row: None, jobs=1)
    assert "Condition.ndjson" in str(raised.value)
