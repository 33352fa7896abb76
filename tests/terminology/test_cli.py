"""`cds terminology ...` (the sub-app in cds/terminology/cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds.terminology.cli import app
from cds.terminology.expansions import find_sources_dir

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.mark.skipif(find_sources_dir(ROOT) is None, reason="../shared/terminology is not beside the repo")
def test_build_check_passes_on_the_committed_files() -> None:
    result = runner.invoke(app, ["build", "--check"])
    assert result.exit_code == 0, result.output


def test_build_without_sources_says_what_is_missing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", "--check", "--sources", str(tmp_path)])
    assert result.exit_code == 2
    assert "source expansion not found" in result.output


def test_lint_passes_and_reports_overlaps() -> None:
    result = runner.invoke(app, ["lint"])
    assert result.exit_code == 0, result.output
    assert "overlap: major-depressive-disorder and psychosis" in result.output


def test_lookup_says_where_a_code_lands() -> None:
    result = runner.invoke(app, ["lookup", "http://snomed.info/sct", "195165005"])
    assert result.exit_code == 0
    assert "intracerebral-hemorrhage" in result.output and "by expansion" in result.output
