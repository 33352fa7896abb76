"""A failing feature scenario is reported with feature file and line, step, expected and actual,
and no Python traceback (tests/bdd_failures.py), run in a separate pytest on a small feature."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.bdd_failures import Mismatch, expect

ROOT = Path(__file__).resolve().parents[1]

FEATURE = """\
Feature: Demo

  Scenario: A count that is off by one
    Given 2 adequate failed trials
    Then 3 adequate failed trials are counted

  Scenario: A step nobody wrote
    Given 2 adequate failed trials
    Then the moon is made of cheese
"""

STEPS = """\
from pytest_bdd import given, parsers, scenarios, then

from tests.bdd_failures import expect

scenarios("demo.feature")


@given(parsers.parse("{n:d} adequate failed trials"), target_fixture="trials")
def _trials(n):
    return n


@then(parsers.parse("{n:d} adequate failed trials are counted"))
def _counted(trials, n):
    expect("adequate failed trials", trials, n, "sertraline 6 weeks, venlafaxine 4 weeks")
"""

CONFTEST = """\
from tests.bdd_failures import pytest_bdd_step_error, pytest_bdd_step_func_lookup_error, pytest_runtest_makereport
"""


def test_failing_scenarios_report_file_line_step_expected_actual(tmp_path: Path) -> None:
    (tmp_path / "demo.feature").write_text(FEATURE)
    (tmp_path / "test_demo.py").write_text(STEPS)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "2 failed" in out
    assert "Scenario failed: A count that is off by one" in out
    assert "feature:  demo.feature:3" in out
    assert "step:     Then 3 adequate failed trials are counted  (demo.feature:5)" in out
    assert "expected: 3" in out and "actual:   2" in out
    assert "note:     sertraline 6 weeks, venlafaxine 4 weeks" in out
    assert "step:     Then the moon is made of cheese  (demo.feature:9)" in out
    assert "no step definition matches" in out
    # No traceback: no source lines, no "file.py:line" frames (node ids "test_demo.py::" are fine).
    assert "Traceback" not in out and "def _counted" not in out
    assert not re.search(r"\.py:\d", out), out


def test_expect_states_expected_and_actual() -> None:
    expect("verdict", "appropriate", "appropriate")
    try:
        expect("verdict", "use-with-caution", "appropriate")
    except Mismatch as exc:
        assert (exc.expected, exc.actual) == ("appropriate", "use-with-caution")
        assert str(exc) == "verdict: expected appropriate, actual use-with-caution"
    else:
        raise AssertionError("expect did not raise on a mismatch")
