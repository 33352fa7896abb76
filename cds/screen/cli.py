"""`cds screen`: the typer command function the lead mounts on the `cds` app."""

from __future__ import annotations

import contextlib
import os
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from cds.errors import CdsError
from cds.screen.output import BINARY, Format, Writer, format_for

EXIT_INPUT = 2  # nothing screened: bad arguments or input unusable as a whole
EXIT_UNUSABLE = 3  # screened, but some records were unusable (their rows say why)
WORKER_WAIT_S = 60.0  # default --worker-wait


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
        Format | None,
        typer.Option(
            "--format",
            help="csv, jsonl (one JSON object per patient), html or parquet (needs --output); "
            "default: from the --output suffix, else csv",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", min=1, help="Worker processes (default: all cores); with --dask, local workers"
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write rows here instead of stdout")
    ] = None,
    dask: Annotated[
        bool, typer.Option("--dask", help="Run on a local Dask cluster (--jobs worker processes)")
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Run on the Dask cluster at this scheduler address (tcp://HOST:PORT); workers need "
            "ketamine-cds installed and the input at the same path",
        ),
    ] = None,
    worker_wait: Annotated[
        float,
        typer.Option(
            "--worker-wait",
            min=0,
            help="With --scheduler: seconds to wait for a first worker (and, during the run, for one "
            "to come back when none is left) before giving up",
        ),
    ] = WORKER_WAIT_S,
) -> None:
    """Screen a population: one row per patient, a summary at the end (stderr).

    Exit codes: 0 every record was read and assessed; 2 nothing was screened (bad arguments,
    missing or unusable input; one line says why), or the screening stopped before every patient
    had a row (a cluster failure: --output is then not written at all); 3 screened, but some
    records were unusable: an error row, or a patient (or, when the line names none, the whole
    run) with unreadable lines, whose rows never read eligible or appropriate (see the incomplete
    column).
    """
    from cds.screen.progress import Progress
    from cds.screen.rows import Row
    from cds.screen.run import Dask, classify, screen
    from cds.screen.worker import Settings

    def fail(message: str) -> None:
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(EXIT_INPUT)

    try:
        day = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError:
        fail(f"--as-of: not a date (YYYY-MM-DD): {as_of!r}")
        raise  # unreachable: fail raised
    if scheduler is not None and not scheduler.strip():
        fail("--scheduler: empty address")
    chosen = format_for(output, fmt)
    if chosen in BINARY and output is None:
        fail(f"--format {chosen.value}: binary output needs --output FILE")
    try:
        classify(inputs)  # unusable input fails before any output is written (no orphan CSV header)
    except CdsError as exc:
        fail(str(exc))
    out: IO[Any]
    # A file appears at --output only once every patient has a row: until then the rows go to a
    # partial file beside it, removed if the run stops, so a cut-off file never passes for a
    # screening (a file an earlier run left at that path stays as it was).
    # A stream (a pipe, /dev/stdout, a terminal) gets the rows as they come: no partial file there.
    stream = output is not None and _is_stream(output)
    final = output if output is None or stream else _destination(output)
    if final is not None and not stream and final.is_file() and not os.access(final, os.W_OK):
        # The rename at the end would replace a file the user cannot write: refuse as open() would.
        fail(f"{output}: cannot write (Permission denied)")
    target = final if final is None or stream else final.with_name(f"{final.name}.partial")
    try:
        if target is None:
            out = sys.stdout
        # A stream is opened to append: /dev/stdout redirected with `>>` is reopened through /proc,
        # and "w" would truncate the file behind it.
        elif chosen in BINARY:
            out = target.open("ab" if stream else "wb")
        else:
            out = target.open("a" if stream else "w", encoding="utf-8", newline="")
    except OSError as exc:
        fail(f"{output}: cannot write ({exc.strerror})")
        raise  # unreachable
    backend = Dask(scheduler, jobs, worker_wait_s=worker_wait) if (dask or scheduler) else None
    writer = Writer(chosen, out)
    complete = False
    written = 0

    def write(row: Row) -> None:
        nonlocal written
        writer.write(row)
        written += 1

    try:
        summary = screen(
            inputs, Settings(day, profile.value), write, jobs=jobs, progress=Progress(), dask=backend
        )
        writer.close(summary)
        complete = True
    except CdsError as exc:
        if target is not None and target != final:
            fail(f"{exc} (nothing written to {output})")
        where = f"to {output}" if output else "above"  # streamed: to a pipe or device, or stdout
        fail(
            f"{exc} (screening stopped: the {written} rows written {where} are incomplete)"
            if written
            else str(exc)
        )
        raise  # unreachable
    except OSError as exc:
        # A full disk, a file-size limit, a closed pipe, the temporary bucket folder: one line.
        kept = f" (nothing written to {output})" if target is not None and target != final else ""
        fail(f"{exc.filename or output or 'stdout'}: {exc.strerror or exc}{kept}")
        raise  # unreachable
    finally:
        if target is not None:
            with contextlib.suppress(OSError):  # closing may fail as the writes did: still clean up
                out.close()
            if not complete and target != final:
                target.unlink(missing_ok=True)
    if target is not None and final is not None and target != final:
        try:
            target.replace(final)
        except OSError as exc:
            target.unlink(missing_ok=True)
            fail(f"{output}: cannot write ({exc.strerror or exc})")
    for line in summary.lines():
        typer.echo(line, err=True)
    if summary.unusable:
        raise typer.Exit(EXIT_UNUSABLE)


def _is_stream(output: Path) -> bool:
    """A device or a process's file (/dev/stdout, /proc/self/fd/1, a named pipe): written to as the
    rows come. /dev and /proc paths are streams whatever they point to: /dev/stdout redirected to a
    file must append to it, not have a partial file renamed over it."""
    parts = output.absolute().parts
    if len(parts) > 1 and parts[1] in ("dev", "proc"):
        return True
    return output.exists() and not output.is_file()


def _destination(output: Path) -> Path:
    """The file the rows end in: through a symbolic link, the file it names (a rename onto the link
    would replace the link with a new file, leaving the file it named as it was)."""
    return output.resolve() if output.is_symlink() else output
