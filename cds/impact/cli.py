"""`cds rules impact`: the typer command function the lead mounts on the `rules` group."""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cds.errors import CdsError

if TYPE_CHECKING:
    from cds.knowledge import Knowledge


class ProfileChoice(StrEnum):
    us = "us-fda"
    eu = "eu-smpc"


def impact_command(
    population: Annotated[
        list[Path],
        typer.Option(
            "--population",
            help="The population: a Bulk Data export (NDJSON files or their folder) or bundles (repeatable)",
        ),
    ],
    base: Annotated[
        str,
        typer.Option(
            "--base",
            help="Knowledge to compare against: a git revision (its rules/ and fhir/) or a folder holding rules/",
        ),
    ],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Evaluation date (default: the population's manifest.yaml, else today)"),
    ] = None,
    profile: Annotated[ProfileChoice, typer.Option(help="Labelling jurisdiction")] = ProfileChoice.us,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Worker processes")] = 1,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write one row per changed patient here")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the whole report as JSON here")
    ] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Write the HTML report (with charts) here")
    ] = None,
) -> None:
    """What a knowledge change does to a population: per patient, per rule, and alert burden."""
    from cds.impact.base import resolve
    from cds.impact.render import render_html, text, to_json, write_csv
    from cds.impact.run import analyse
    from cds.paths import fhir_dir, rules_dir

    try:
        day = _as_of(as_of, population)
    except ValueError as exc:
        typer.echo(f"error: --as-of: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        changed = _load(rules_dir(), fhir_dir(), "working tree")
        with resolve(base, changed.rules_dir, changed.fhir_dir) as folders:
            before = _load(folders.rules, folders.fhir, f"--base {base}")
            report = analyse(
                population,
                before,
                changed,
                as_of=day,
                profile=profile.value,
                base_label=folders.label,
                changed_label="working tree",
                jobs=jobs,
            )
    except CdsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for line in text(report):
        typer.echo(line)
    try:
        if csv_out:
            with csv_out.open("w", encoding="utf-8", newline="") as fh:
                write_csv(report, fh)
        if json_out:
            json_out.write_bytes(to_json(report))
        if html_out:
            html_out.write_text(render_html(report), encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: {exc.filename}: cannot write ({exc.strerror})", err=True)
        raise typer.Exit(2) from None
    sys.stdout.flush()


def _as_of(value: str | None, population: list[Path]) -> date:
    from cds.population import read_manifest

    if value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from None
    for p in population:
        manifest = read_manifest(p) if p.is_dir() else None
        if manifest and isinstance(manifest.get("as_of"), str):
            return date.fromisoformat(manifest["as_of"])
    return date.today()


def _load(rules: Path, fhir: Path, side: str) -> Knowledge:
    """Either side's knowledge; one that does not load names its side and its first problem."""
    from cds.knowledge import Knowledge

    try:
        return Knowledge.load(rules, fhir)
    except CdsError as exc:
        raise CdsError(f"{side}: knowledge does not load: {exc}") from None
