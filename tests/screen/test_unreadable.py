"""Bulk lines that cannot be read: the patient they may belong to (or the whole run) is incomplete,
and an incomplete row never reads eligible or appropriate."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from cds.screen import Row, screen
from cds.screen.output import Format, Writer
from cds.screen.rows import Summary, incomplete_row
from tests.screen.test_screen import SETTINGS, write_export

CLEARANCES = {"eligible", "appropriate", "use-with-caution"}


def _run(folder: Path) -> tuple[Summary, dict[str, Row]]:
    rows: list[Row] = []
    summary = screen([folder], SETTINGS, rows.append, jobs=1)
    return summary, {r.patient: r for r in rows}


def _append(folder: Path, name: str, line: str) -> None:
    with (folder / name).open("a") as fh:
        fh.write(line + "\n")


def test_a_clean_export_clears_the_trd_patients(tmp_path: Path) -> None:
    """The baseline the tests below change: without bad lines trd1 and trd2 read eligible."""
    write_export(tmp_path / "e", broken=False)
    summary, rows = _run(tmp_path / "e")
    assert not summary.unusable
    assert rows["trd1"].indication == rows["trd2"].indication == "eligible"
    assert rows["trd1"].esketamine == "appropriate"


def test_bad_json_naming_a_patient_makes_that_patient_incomplete(tmp_path: Path) -> None:
    write_export(tmp_path / "e", broken=False)
    # A truncated line: not JSON, but it names its patient.
    _append(
        tmp_path / "e",
        "Condition.ndjson",
        '{"resourceType":"Condition","subject":{"reference":"Patient/trd1"},"code":{"cod',
    )
    summary, rows = _run(tmp_path / "e")
    trd1 = rows["trd1"]
    assert (
        trd1.incomplete is not None
        and "Condition.ndjson" in trd1.incomplete
        and "not valid JSON" in trd1.incomplete
    )
    assert trd1.indication == "insufficient-data"
    assert trd1.esketamine == trd1.ketamine_iv == "insufficient-data"
    assert "indication.trd.met" in trd1.rules  # what the readable part showed stays visible
    # Other patients are not affected, and the run says records were unusable.
    assert rows["trd2"].indication == "eligible" and rows["trd2"].incomplete is None
    assert summary.incomplete == 1 and summary.run_incomplete == 0 and summary.unusable


def test_a_line_whose_patient_cannot_be_told_makes_the_whole_run_incomplete(tmp_path: Path) -> None:
    write_export(tmp_path / "e", broken=False)
    # Valid JSON of a type the facts read, but its subject is no patient.
    _append(
        tmp_path / "e",
        "Condition.ndjson",
        json.dumps(
            {
                "resourceType": "Condition",
                "id": "g",
                "subject": {"reference": "Group/1"},
                "code": {"text": "x"},
            }
        ),
    )
    summary, rows = _run(tmp_path / "e")
    assert summary.run_incomplete == 1 and summary.unusable
    assert any("names no patient" in u for u in summary.unreadable)
    for row in rows.values():
        assert row.incomplete is not None
        assert not {row.indication, row.esketamine, row.ketamine_iv} & CLEARANCES


def test_bad_json_naming_no_patient_makes_the_whole_run_incomplete(tmp_path: Path) -> None:
    write_export(tmp_path / "e", broken=False)
    _append(tmp_path / "e", "MedicationStatement.ndjson", "{not json")
    summary, rows = _run(tmp_path / "e")
    assert summary.run_incomplete == 1
    assert rows["trd1"].indication == "insufficient-data" and rows["trd1"].esketamine == "insufficient-data"


def test_an_incomplete_row_keeps_what_was_found_and_clears_nothing() -> None:
    row = Row(
        patient="p",
        source="bulk export",
        indication="eligible",
        esketamine="contraindicated",
        ketamine_iv="use-with-caution",
        contraindications=["aneurysmal-vascular-disease"],
    )
    out = incomplete_row(row, "x.ndjson byte 3: not valid JSON")
    assert out.indication == "insufficient-data" and out.ketamine_iv == "insufficient-data"
    assert out.esketamine == "contraindicated" and out.contraindications == ["aneurysmal-vascular-disease"]
    not_eligible = incomplete_row(row.model_copy(update={"indication": "not-eligible"}), "r")
    assert not_eligible.indication == "not-eligible"


def test_the_incomplete_column_is_in_every_format(tmp_path: Path) -> None:
    write_export(tmp_path / "e", broken=False)
    _append(
        tmp_path / "e",
        "Condition.ndjson",
        '{"resourceType":"Condition","subject":{"reference":"Patient/trd2"},',
    )
    for fmt in (Format.csv, Format.jsonl, Format.html):
        out = io.StringIO()
        writer = Writer(fmt, out)
        summary = screen([tmp_path / "e"], SETTINGS, writer.write, jobs=1)
        writer.close(summary)
        assert "incomplete" in out.getvalue() and "Condition.ndjson" in out.getvalue()


def test_the_command_exits_3_when_records_were_unusable_and_0_when_not(tmp_path: Path) -> None:
    write_export(tmp_path / "clean", broken=False)
    write_export(tmp_path / "bad", broken=False)
    _append(tmp_path / "bad", "Observation.ndjson", "{not json")
    codes = {}
    for name in ("clean", "bad"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "cds.screen",
                str(tmp_path / name),
                "--as-of",
                "2025-06-02",
                "--jobs",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        codes[name] = proc.returncode
        assert "Traceback" not in proc.stderr
    assert codes == {"clean": 0, "bad": 3}


def test_help_states_the_exit_codes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cds.screen", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "Exit codes" in text and "3 screened, but some records were unusable" in text
