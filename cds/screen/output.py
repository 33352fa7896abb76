"""Row writers: CSV, JSON lines, and one self-contained HTML page (no scripts, fonts or network)."""

from __future__ import annotations

import csv
import html
from enum import StrEnum
from typing import IO

import orjson

from cds.screen.rows import Row, Summary

COLUMNS: tuple[str, ...] = tuple(Row.model_fields)


class Format(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    html = "html"


class Writer:
    """Streams rows to `out` (CSV and JSON lines as they come; HTML at `close`, with the summary)."""

    def __init__(self, fmt: Format, out: IO[str]) -> None:
        self.fmt = fmt
        self.out = out
        self._rows: list[Row] = []  # HTML only: one page, written at the end
        self._csv = csv.writer(out, lineterminator="\n") if fmt is Format.csv else None
        if self._csv is not None:
            self._csv.writerow(COLUMNS)

    def write(self, row: Row) -> None:
        if self._csv is not None:
            self._csv.writerow([_cell(getattr(row, c)) for c in COLUMNS])
        elif self.fmt is Format.jsonl:
            self.out.write(orjson.dumps(row.model_dump(mode="json")).decode() + "\n")
        else:
            self._rows.append(row)

    def close(self, summary: Summary) -> None:
        if self.fmt is Format.html:
            self.out.write(render_html(self._rows, summary))
        self.out.flush()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}tr.error td{background:#fff0f0}td.n{text-align:right}
@media print{body{margin:0}}
"""


def render_html(rows: list[Row], summary: Summary) -> str:
    e = html.escape

    def counts(title: str, data: dict[str, int]) -> str:
        body = "".join(f"<tr><td>{e(k)}</td><td class=n>{v}</td></tr>" for k, v in sorted(data.items()) if v)
        return f"<h3>{e(title)}</h3><table><tr><th>value</th><th>patients</th></tr>{body or '<tr><td colspan=2>none</td></tr>'}</table>"

    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    body = "".join(
        f"<tr{' class=error' if r.error else ''}>"
        + "".join(f"<td>{e(_cell(getattr(r, c)))}</td>" for c in COLUMNS)
        + "</tr>"
        for r in rows
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>ketamine-cds screening</title>"
        f"<style>{_STYLE}</style><h1>Population screening</h1>"
        f"<p>{summary.patients} patients, {summary.errors} with unusable records.</p>"
        + counts("Indication", summary.indication)
        + counts("Esketamine", summary.esketamine)
        + counts("IV ketamine", summary.ketamine_iv)
        + counts("Contraindications", summary.contraindications)
        + f"<h2>Patients</h2><table><tr>{head}</tr>{body}</table></html>\n"
    )
