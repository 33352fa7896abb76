"""Failing feature scenarios reported for informaticists: feature file and line, scenario, step,
expected and actual; no Python traceback.

Imported by tests/conftest.py (hook functions are found by name). Then-steps raise `Mismatch`
(through `expect`) to state expected and actual; any other failure is reported by its message.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

_KEY = pytest.StashKey[str]()


class Mismatch(AssertionError):
    """A Then step that found something other than the scenario states."""

    def __init__(self, what: str, expected: object, actual: object, note: object = None) -> None:
        self.what, self.expected, self.actual, self.note = what, expected, actual, note
        super().__init__(f"{what}: expected {expected}, actual {actual}")


def expect(what: str, actual: object, expected: object, note: object = None) -> None:
    """Raise `Mismatch` unless `actual == expected`; `note` (e.g. the reasons) helps say why."""
    if actual != expected:
        raise Mismatch(what, expected, actual, note)


def _where(path: str, line: int) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = path
    return f"{rel if not rel.startswith('..') else path}:{line}"


def describe(
    feature: Any, scenario: Any, step: Any, exception: BaseException | None, problem: str | None = None
) -> str:
    lines = [
        f"Scenario failed: {scenario.name}",
        f"  feature:  {_where(feature.filename, scenario.line_number)}",
        f"  step:     {step.keyword} {step.name}  ({_where(feature.filename, step.line_number)})",
    ]
    if problem:
        lines.append(f"  problem:  {problem}")
    elif isinstance(exception, Mismatch):
        lines += [
            f"  check:    {exception.what}",
            f"  expected: {exception.expected}",
            f"  actual:   {exception.actual}",
        ]
        if exception.note:
            lines.append(f"  note:     {exception.note}")
    elif isinstance(exception, AssertionError):
        message = str(exception).strip().splitlines()
        lines.append(f"  failed:   {message[0] if message else 'assertion failed'}")
        lines += [f"            {m}" for m in message[1:6]]
    elif exception is not None:
        lines.append(f"  error:    {type(exception).__name__}: {exception}")
    return "\n".join(lines)


def pytest_bdd_step_error(
    request: pytest.FixtureRequest,
    feature: Any,
    scenario: Any,
    step: Any,
    step_func: Any,
    step_func_args: Any,
    exception: BaseException,
) -> None:
    request.node.stash[_KEY] = describe(feature, scenario, step, exception)


def pytest_bdd_step_func_lookup_error(
    request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any, exception: BaseException
) -> None:
    request.node.stash[_KEY] = describe(
        feature,
        scenario,
        step,
        None,
        "no step definition matches this step's wording (tests/test_features.py)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    text = item.stash.get(_KEY, None)
    if text is not None and report.failed and call.when == "call":
        report.longrepr = text
    return report
