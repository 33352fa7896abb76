"""Row writers: CSV, JSON lines, Parquet, and one self-contained HTML page (no scripts, fonts or network)."""

from __future__ import annotations

import csv
import html
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import orjson

from cds.screen.rows import Row, Summary

COLUMNS: tuple[str, ...] = tuple(Row.model_fields)
PARQUET_BATCH = 10_000  # rows per Parquet row group


class Format(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    html = "html"
    parquet = "parquet"


BINARY = frozenset({Format.parquet})


def format_for(path: Path | None, given: Format | None) -> Format:
    """`--format` when given, else the output file's suffix (.csv, .jsonl, .html, .parquet), else CSV."""
    if given is not None:
        return given
    if path is not None:
        suffix = path.suffix.lower().lstrip(".")
        for f in Format:
            if suffix == f.value or (f is Format.html and suffix == "htm"):
                return f
    return Format.csv


class Writer:
    """Streams rows to `out` (CSV and JSON lines as they come; Parquet by row group; HTML at
    `close`, with the summary). Parquet needs a binary file (`out` opened "wb")."""

    def __init__(self, fmt: Format, out: IO[Any]) -> None:
        self.fmt = fmt
        self.out = out
        self._rows: list[Row] = []  # HTML: one page at the end; Parquet: the current row group
        self._csv = csv.writer(out, lineterminator="\n") if fmt is Format.csv else None
        self._parquet: Any = None
        self._header = False  # written with the first row or at close: a run that fails writes nothing

    def _csv_header(self) -> None:
        if self._csv is not None and not self._header:
            self._csv.writerow(COLUMNS)
            self._header = True

    def write(self, row: Row) -> None:
        if self._csv is not None:
            self._csv_header()
            self._csv.writerow([_cell(getattr(row, c)) for c in COLUMNS])
        elif self.fmt is Format.jsonl:
            self.out.write(orjson.dumps(row.model_dump(mode="json")).decode() + "\n")
        else:
            self._rows.append(row)
            if self.fmt is Format.parquet and len(self._rows) >= PARQUET_BATCH:
                self._flush_parquet()

    def close(self, summary: Summary) -> None:
        self._csv_header()
        if self.fmt is Format.html:
            self.out.write(render_html(self._rows, summary))
        elif self.fmt is Format.parquet:
            self._flush_parquet(final=True)
        self.out.flush()

    def _flush_parquet(self, *, final: bool = False) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.out, parquet_schema())
        if self._rows:
            data = {c: [getattr(r, c) for r in self._rows] for c in COLUMNS}
            self._parquet.write_table(pa.table(data, schema=parquet_schema()))
            self._rows.clear()
        if final:
            self._parquet.close()


def parquet_schema() -> Any:
    import pyarrow as pa

    def kind(name: str) -> Any:
        default = Row.model_fields[name].default_factory
        if default is list:
            return pa.list_(pa.string())
        if name == "adequate_failed_trials":
            return pa.int32()
        return pa.string()

    return pa.schema([pa.field(c, kind(c), nullable=c not in ("patient", "source")) for c in COLUMNS])


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}tr.error td{background:#fff0f0}tr.incomplete td{background:#fff8e0}td.n{text-align:right}
@media print{body{margin:0}}
"""


def render_html(rows: list[Row], summary: Summary) -> str:
    e = html.escape

    def counts(title: str, data: dict[str, int]) -> str:
        body = "".join(f"<tr><td>{e(k)}</td><td class=n>{v}</td></tr>" for k, v in sorted(data.items()) if v)
        return f"<h3>{e(title)}</h3><table><tr><th>value</th><th>patients</th></tr>{body or '<tr><td colspan=2>none</td></tr>'}</table>"

    def css(r: Row) -> str:
        return " class=error" if r.error else (" class=incomplete" if r.incomplete else "")

    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    body = "".join(
        f"<tr{css(r)}>" + "".join(f"<td>{e(_cell(getattr(r, c)))}</td>" for c in COLUMNS) + "</tr>"
        for r in rows
    )
    notes = "".join(f"<p>{e(line)}</p>" for line in summary.lines()[5:])
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>ketamine-cds screening</title>"
        f"<style>{_STYLE}</style><h1>Population screening</h1>"
        f"<p>{summary.patients} patients, {summary.errors} with unusable records.</p>{notes}"
        + counts("Indication", summary.indication)
        + counts("Esketamine", summary.esketamine)
        + counts("IV ketamine", summary.ketamine_iv)
        + counts("Contraindications", summary.contraindications)
        + f"<h2>Patients</h2><table><tr>{head}</tr>{body}</table></html>\n"
    )
