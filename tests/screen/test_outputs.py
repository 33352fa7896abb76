"""Rows carry the fired rule ids in every format; Parquet and the format chosen by the output suffix."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from cds.screen import Row, screen
from cds.screen.output import Format, Writer, format_for
from tests.screen.test_screen import SETTINGS, write_export


def _rows(folder: Path) -> list[Row]:
    rows: list[Row] = []
    screen([folder], SETTINGS, rows.append, jobs=1)
    return rows


def test_rule_ids_are_a_column_in_csv_jsonl_html_and_parquet(tmp_path: Path) -> None:
    write_export(tmp_path / "e", broken=False)
    rows = _rows(tmp_path / "e")
    by_id = {r.patient: r for r in rows}
    assert "indication.trd.met" in by_id["trd1"].rules
    assert "contraindication.age-under-18" in by_id["young"].rules
    assert "indication.trd.met" not in by_id["young"].rules

    def written(fmt: Format) -> str:
        out = io.StringIO()
        w = Writer(fmt, out)
        for r in rows:
            w.write(r)
        w.close(screen([tmp_path / "e"], SETTINGS, lambda r: None, jobs=1))
        return out.getvalue()

    table = list(csv.DictReader(io.StringIO(written(Format.csv))))
    assert {r["patient"]: r["rules"].split(";") for r in table}["young"] == by_id["young"].rules
    lines = [orjson.loads(line) for line in written(Format.jsonl).splitlines()]
    assert {r["patient"]: r["rules"] for r in lines}["trd1"] == by_id["trd1"].rules
    page = written(Format.html)
    assert "<th>rules</th>" in page and "contraindication.age-under-18" in page

    target = tmp_path / "rows.parquet"
    with target.open("wb") as fh:
        w = Writer(Format.parquet, fh)
        for r in rows:
            w.write(r)
        w.close(screen([tmp_path / "e"], SETTINGS, lambda r: None, jobs=1))
    back = pq.read_table(target).to_pylist()
    assert [Row.model_validate(r) for r in back] == rows


def test_the_output_suffix_chooses_the_format_unless_format_is_given() -> None:
    assert format_for(Path("rows.parquet"), None) is Format.parquet
    assert format_for(Path("rows.JSONL"), None) is Format.jsonl
    assert format_for(Path("rows.htm"), None) is Format.html
    assert format_for(Path("rows.txt"), None) is Format.csv
    assert format_for(None, None) is Format.csv
    assert format_for(Path("rows.parquet"), Format.csv) is Format.csv


def test_the_command_writes_parquet_by_suffix_and_refuses_it_on_stdout(tmp_path: Path) -> None:
    write_export(tmp_path / "e", broken=False)
    out = tmp_path / "rows.parquet"
    base = [sys.executable, "-m", "cds.screen", str(tmp_path / "e"), "--as-of", "2025-06-02", "--jobs", "1"]
    proc = subprocess.run([*base, "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(r["patient"] for r in pq.read_table(out).to_pylist()) == sorted(
        r.patient for r in _rows(tmp_path / "e")
    )
    refused = subprocess.run([*base, "--format", "parquet"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "needs --output" in refused.stderr and refused.stdout == ""
