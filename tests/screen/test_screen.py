"""`cds screen` over a small synthetic Bulk Data export and a folder of bundles."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds.ingest.load import flatten
from cds.pipeline import evaluate
from cds.screen import Row, Settings, Summary, screen
from cds.screen.output import Format, Writer
from cds.screen.rows import row_from
from cds.synthetic import INGREDIENTS, RXNORM, PatientBuilder, trd_patient

AS_OF = date(2025, 6, 2)
SETTINGS = Settings(AS_OF, "us-fda")


def _patients() -> list[dict[str, Any]]:
    young = PatientBuilder(birth_date="2012-01-01", pid="young")
    young.condition("F33.1", onset="2024-09-01")
    shared_med = trd_patient("viaref").bundle()
    for e in shared_med["entry"]:  # sertraline by reference to a shared Medication resource
        r = e["resource"]
        if r["resourceType"] == "MedicationStatement" and "sertraline" in json.dumps(r):
            del r["medicationCodeableConcept"]
            r["medicationReference"] = {"reference": "Medication/sertraline-50"}
    return [
        trd_patient("trd1").bundle(),
        trd_patient("trd2", gender="male").bundle(),
        young.bundle(),
        PatientBuilder(birth_date="1970-01-01", pid="nohistory").bundle(),
        shared_med,
    ]


def write_export(folder: Path, *, broken: bool = True) -> None:
    lines: dict[str, list[str]] = {}
    for bundle in _patients():
        for e in bundle["entry"]:
            r = e["resource"]
            lines.setdefault(r["resourceType"], []).append(json.dumps(r))
    lines["Medication"] = [
        json.dumps(
            {
                "resourceType": "Medication",
                "id": "sertraline-50",
                "code": {
                    "coding": [{"system": RXNORM, "code": INGREDIENTS["sertraline"], "display": "sertraline"}]
                },
            }
        )
    ]
    if broken:
        lines["Patient"].append(json.dumps({"resourceType": "Patient", "id": "broken", "gender": "female"}))
        lines["Condition"].append(
            json.dumps(
                {
                    "resourceType": "Condition",
                    "id": "b1",
                    "code": {"text": "x"},
                    "subject": {"reference": "Patient/broken"},
                }
            )
        )
        lines["Observation"].append("{not json")
    folder.mkdir()
    for rtype, rows in lines.items():
        (folder / f"{rtype}.ndjson").write_text("\n".join(rows) + "\n")


def run(paths: list[Path], fmt: Format = Format.jsonl) -> tuple[Summary, str]:
    out = io.StringIO()
    writer = Writer(fmt, out)
    summary = screen(paths, SETTINGS, writer.write, jobs=1)
    writer.close(summary)
    return summary, out.getvalue()


def test_every_patient_gets_one_valid_row_and_the_summary_counts_them(tmp_path: Path) -> None:
    write_export(tmp_path / "export")
    summary, text = run([tmp_path / "export"])
    rows = [Row.model_validate_json(line) for line in text.splitlines()]
    assert sorted(r.patient for r in rows) == ["broken", "nohistory", "trd1", "trd2", "viaref", "young"]
    ok = [r for r in rows if r.error is None]
    assert summary.patients == len(rows) and summary.errors == len(rows) - len(ok)
    for status in ("eligible", "not-eligible", "insufficient-data"):
        assert summary.indication[status] == sum(r.indication == status for r in ok)
    assert summary.esketamine == {v: sum(r.esketamine == v for r in ok) for v in summary.esketamine}
    assert sum(summary.esketamine.values()) == len(ok)
    for concept, n in summary.contraindications.items():
        assert n == sum(concept in r.contraindications for r in ok)
    assert summary.contraindications.get("age-under-18") == 1


def test_a_broken_patient_is_reported_in_its_row_and_the_rest_are_assessed(tmp_path: Path) -> None:
    write_export(tmp_path / "export")
    summary, text = run([tmp_path / "export"])
    rows = {r.patient: r for r in (Row.model_validate_json(line) for line in text.splitlines())}
    assert rows["broken"].error is not None and "birthDate" in rows["broken"].error
    assert rows["broken"].indication is None
    assert rows["trd1"].error is None and "indication.trd.met" in rows["trd1"].rules
    # The unparsable line names no patient: named in the summary, and the whole run is incomplete.
    assert any("Observation.ndjson" in u and "not valid JSON" in u for u in summary.unreadable)
    assert summary.run_incomplete == 1 and summary.unusable


def test_export_rows_equal_single_patient_assessments(tmp_path: Path) -> None:
    """Grouping by patient loses nothing: shared Medications by reference included."""
    write_export(tmp_path / "export", broken=False)
    summary, text = run([tmp_path / "export"])
    rows = {r.patient: r for r in (Row.model_validate_json(line) for line in text.splitlines())}
    assert not summary.unusable
    for bundle in _patients()[:4]:
        pid = bundle["entry"][0]["resource"]["id"]
        whole = evaluate(flatten(bundle), as_of=AS_OF)
        assert rows[pid] == row_from(whole.assessment, "bulk export", [f.rule_id for f in whole.firings])
        assert rows[pid].rules and rows[pid].incomplete is None
    assert rows["viaref"].indication == "eligible" and rows["viaref"].adequate_failed_trials == 2


def test_a_folder_of_bundles_gives_one_row_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    for i, bundle in enumerate(_patients()[:3]):
        (folder / f"p{i}.json").write_text(json.dumps(bundle))
    (folder / "bad.json").write_text("{not json")
    summary, text = run([folder], Format.csv)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4 == summary.patients
    bad = next(r for r in rows if r["source"] == "bad.json")
    assert "not valid JSON" in bad["error"]
    assert {r["patient"] for r in rows if not r["error"]} == {"trd1", "trd2", "young"}


def test_a_file_named_twice_is_screened_once(tmp_path: Path) -> None:
    """A folder and a file in it (or an export and one of its files): each patient one row, each
    line counted once."""
    folder = tmp_path / "bundles"
    folder.mkdir()
    for i, bundle in enumerate(_patients()[:2]):
        (folder / f"p{i}.json").write_text(json.dumps(bundle))
    summary, text = run([folder, folder / "p0.json"], Format.csv)
    assert sorted(r["patient"] for r in csv.DictReader(io.StringIO(text))) == ["trd1", "trd2"]
    assert summary.patients == 2
    write_export(tmp_path / "export", broken=False)
    once, _ = run([tmp_path / "export"])
    twice, _ = run([tmp_path / "export", tmp_path / "export" / "Patient.ndjson"])
    assert twice == once


def test_html_is_one_self_contained_table(tmp_path: Path) -> None:
    write_export(tmp_path / "export")
    summary, page = run([tmp_path / "export"], Format.html)
    assert page.startswith("<!doctype html>") and page.count("<tr") >= summary.patients + 1
    for forbidden in ("<script", "<link", "src=", "http://", "https://", "@import"):
        assert forbidden not in page
    assert "broken" in page and "birthDate" in page


@pytest.mark.slow
def test_command_uses_worker_processes_and_prints_no_progress_bar_when_not_a_terminal(tmp_path: Path) -> None:
    write_export(tmp_path / "export")
    out = tmp_path / "rows.csv"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cds.screen",
            str(tmp_path / "export"),
            "--as-of",
            "2025-06-02",
            "--jobs",
            "2",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(list(csv.DictReader(out.open()))) == 6
    assert proc.returncode == 3, proc.stderr  # some records unusable
    assert "6 patients screened, 1 with unusable records" in proc.stderr
    assert "━" not in proc.stderr and "Traceback" not in proc.stderr


def test_missing_input_is_one_clear_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cds.screen", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "no such file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""  # no CSV header for a run that never started


@pytest.mark.slow
def test_knowledge_that_does_not_load_is_named_not_taken_for_a_dead_worker(tmp_path: Path) -> None:
    write_export(tmp_path / "export", broken=False)
    env = {**os.environ, "CDS_RULES_DIR": str(tmp_path / "no-rules")}
    argv = [
        sys.executable,
        "-m",
        "cds.screen",
        str(tmp_path / "export"),
        "--jobs",
        "2",
        "-o",
        str(tmp_path / "r.csv"),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and "no-rules/settings.yaml: cannot read" in proc.stderr, proc.stderr
    assert "worker process died" not in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("r.csv*"))
