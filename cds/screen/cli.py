"""`cds screen`: the typer command function the lead mounts on the `cds` app (see bench/REPORT)."""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cds.errors import CdsError
from cds.screen.output import Format, Writer


class ProfileChoice(StrEnum):
    us = "us-fda"
    eu = "eu-smpc"


def screen_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Bundles (one patient each), folders of bundles, or a FHIR Bulk Data export (NDJSON files or their folder)"
        ),
    ],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate as if today were YYYY-MM-DD")] = None,
    profile: Annotated[ProfileChoice, typer.Option(help="Labelling jurisdiction")] = ProfileChoice.us,
    fmt: Annotated[
        Format, typer.Option("--format", help="csv, jsonl (one JSON object per patient) or html")
    ] = Format.csv,
    jobs: Annotated[
        int | None, typer.Option("--jobs", min=1, help="Worker processes (default: all cores)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write rows here instead of stdout")
    ] = None,
) -> None:
    """Screen a population: one row per patient, a summary at the end (stderr)."""
    from cds.screen.progress import Progress
    from cds.screen.run import screen
    from cds.screen.worker import Settings

    try:
        day = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError:
        typer.echo(f"error: --as-of: not a date (YYYY-MM-DD): {as_of!r}", err=True)
        raise typer.Exit(2) from None
    from cds.screen.run import classify

    try:
        classify(inputs)  # unusable input fails before any output is written (no orphan CSV header)
    except CdsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    except OSError as exc:
        typer.echo(f"error: {output}: cannot write ({exc.strerror})", err=True)
        raise typer.Exit(2) from None
    writer = Writer(fmt, out)
    try:
        summary = screen(inputs, Settings(day, profile.value), writer.write, jobs=jobs, progress=Progress())
        writer.close(summary)
    except CdsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        if output:
            out.close()
    for line in summary.lines():
        typer.echo(line, err=True)
