"""`cds screen --output`: where the rows end up, and what the command says when a run stops."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cds.cli import app
from cds.errors import CdsError
from cds.screen.rows import Row, Summary
from tests.screen.test_screen import write_export

runner = CliRunner()
ONE_JOB = ("--as-of", "2025-06-02", "--jobs", "1")


def _row(patient: str) -> Row:
    return Row(patient=patient, source="export/Patient.ndjson")


def _screen_writing(rows: int, *, then_fail: bool) -> Callable[..., Summary]:
    """A stand-in for the screening: writes `rows` rows, then stops with a CdsError or finishes."""

    def fake(inputs: Any, settings: Any, write: Callable[[Row], None], **_: Any) -> Summary:
        summary = Summary()
        for k in range(rows):
            row = _row(f"p{k}")
            write(row)
            summary.add(row)
        if then_fail:
            raise CdsError("the cluster lost its last worker")
        return summary

    return fake


def _run(tmp_path: Path, output: Path, monkeypatch: pytest.MonkeyPatch, *, rows: int, fail: bool) -> Any:
    write_export(tmp_path / "export", broken=False)
    monkeypatch.setattr("cds.screen.run.screen", _screen_writing(rows, then_fail=fail))
    argv = ["screen", str(tmp_path / "export"), "--as-of", "2025-06-02", "--jobs", "1", "-o", str(output)]
    return runner.invoke(app, argv)


def test_rows_go_through_a_symbolic_link_to_the_file_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "results" / "rows.csv"
    real.parent.mkdir()
    real.write_text("an earlier run\n")
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    result = _run(tmp_path, link, monkeypatch, rows=3, fail=False)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == real  # the link is kept, not replaced by a file
    assert [r["patient"] for r in csv.DictReader(real.open())] == ["p0", "p1", "p2"]
    assert not (tmp_path / "results" / "rows.csv.partial").exists()


def test_a_file_the_user_cannot_write_is_refused_before_screening_and_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are renamed onto --output at the end: a rename would replace a read-only file that
    open() would refuse. (os.access answers for the user running the command: as root, yes.)"""
    import cds.screen.cli as screen_cli

    out = tmp_path / "rows.csv"
    out.write_text("kept\n")
    out.chmod(0o444)
    real_access = screen_cli.os.access
    monkeypatch.setattr(
        screen_cli.os,
        "access",
        lambda p, mode, **kw: False if Path(p) == out and mode & os.W_OK else real_access(p, mode, **kw),
    )
    result = _run(tmp_path, out, monkeypatch, rows=3, fail=False)
    assert result.exit_code == 2
    assert "rows.csv: cannot write (Permission denied)" in result.output, result.output
    assert out.read_text() == "kept\n"


def test_a_stopped_run_into_a_device_says_how_many_rows_it_wrote_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipe or device gets the rows as they come (no partial file): when the run stops, the rows
    already there are incomplete, not 'nothing written'."""
    result = _run(tmp_path, Path("/dev/null"), monkeypatch, rows=2, fail=True)
    assert result.exit_code == 2
    assert "the 2 rows written to /dev/null are incomplete" in result.output
    assert "nothing written" not in result.output


def test_a_stopped_run_into_a_file_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "rows.csv"
    result = _run(tmp_path, out, monkeypatch, rows=2, fail=True)
    assert result.exit_code == 2
    assert f"nothing written to {out}" in result.output
    assert not out.exists() and not out.with_name("rows.csv.partial").exists()


def _cli(tmp_path: Path, *extra: str, **run: Any) -> Any:
    write_export(tmp_path / "export", broken=False)
    argv = [sys.executable, "-m", "cds.screen", str(tmp_path / "export"), *ONE_JOB]
    return subprocess.run([*argv, *extra], timeout=120, **run)


def test_dev_stdout_into_a_pipe_gets_the_rows(tmp_path: Path) -> None:
    """/dev/stdout names the pipe through /proc: it is written to, not resolved to a path that a
    partial file could sit beside (the run had stopped: 'cannot write')."""
    done = _cli(tmp_path, "-o", "/dev/stdout", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(done.stdout.splitlines()))
    assert rows and all(r["patient"] for r in rows)


def test_dev_stdout_appended_to_a_file_keeps_what_was_there(tmp_path: Path) -> None:
    """`-o /dev/stdout >> all.csv`: the rows are appended, not renamed over the file."""
    log = tmp_path / "all.csv"
    log.write_text("earlier line\n")
    with log.open("a") as out:
        done = _cli(tmp_path, "-o", "/dev/stdout", stdout=out, stderr=subprocess.PIPE)
    assert done.returncode == 0
    text = log.read_text()
    assert text.startswith("earlier line\n") and "patient" in text.splitlines()[1]


def test_a_device_that_cannot_take_the_rows_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    done = _cli(tmp_path, "-o", "/dev/full", capture_output=True, text=True)
    assert done.returncode == 2
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr


def test_a_write_failing_part_way_is_one_line_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def fills_the_disk(inputs: Any, settings: Any, write: Callable[[Row], None], **_: Any) -> Summary:
        write(_row("p0"))
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "rows.csv.partial"))

    write_export(tmp_path / "export", broken=False)
    monkeypatch.setattr("cds.screen.run.screen", fills_the_disk)
    out = tmp_path / "rows.csv"
    result = runner.invoke(app, ["screen", str(tmp_path / "export"), "--jobs", "1", "-o", str(out)])
    assert result.exit_code == 2
    assert "No space left on device" in result.output and "nothing written to" in result.output
    assert not out.exists() and not out.with_name("rows.csv.partial").exists()
