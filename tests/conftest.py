from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bdd_failures import (  # noqa: F401  (hooks: scenario failures without a traceback)
    pytest_bdd_step_error,
    pytest_bdd_step_func_lookup_error,
    pytest_runtest_makereport,
)
from tests.golden.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture
def write_bundle(tmp_path: Path):
    def write(bundle: dict, name: str = "patient.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(bundle))
        return path

    return write


def pytest_configure(config: pytest.Config) -> None:
    # Feature scenarios are tagged with the ids of the rules they exercise (@<rule id>);
    # --strict-markers needs every tag declared.
    import re

    for feature in (ROOT / "features").glob("*.feature"):
        for tag in sorted(set(re.findall(r"@([a-z][\w.\-]+)", feature.read_text()))):
            config.addinivalue_line("markers", f"{tag}: scenario exercises this rule")


# --- rule coverage gate (cds/ruleset/coverage.py) -------------------------------------------
_SCENARIOS: list[dict[str, object]] = []
COVERAGE_FILE = ROOT / "test-artifacts" / "rule-coverage.json"
# Behaviour snapshot of every scenario's assessment (tests/golden/snapshot.py).
_SCENARIO_SNAPSHOT = Snapshot("scenarios")


def pytest_bdd_after_scenario(request: pytest.FixtureRequest, feature: object, scenario: object) -> None:
    world = request.getfixturevalue("world")
    if getattr(world, "result", None) is None:
        return
    from tests.test_features import fired_rules

    _SCENARIO_SNAPSHOT.check(request.node.nodeid.split("::", 1)[-1], world.result)
    _SCENARIOS.append(
        {
            "scenario": getattr(scenario, "name", ""),
            "tags": sorted(getattr(scenario, "tags", set())),
            "fired": sorted(fired_rules(world.result)),
        }
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    items = [i for i in getattr(session, "items", []) if i.nodeid.startswith("tests/test_features.py")]
    if not items:
        return
    opts = session.config.option
    whole_run = not opts.keyword and not opts.markexpr and not any("::" in a for a in session.config.args)
    COVERAGE_FILE.parent.mkdir(exist_ok=True)
    COVERAGE_FILE.write_text(
        json.dumps(
            {"complete": whole_run and len(_SCENARIOS) == len(items), "scenarios": _SCENARIOS}, indent=1
        )
    )
    if not whole_run or len(_SCENARIOS) != len(items) or session.testsfailed:
        return
    from cds.knowledge import default_knowledge
    from cds.ruleset.coverage import gaps

    found = gaps(default_knowledge().ruleset, _SCENARIOS)  # type: ignore[arg-type]
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [
            "",
            "RULE COVERAGE GATE: every rule needs a tagged scenario where it fires and one where it does not:",
        ]
        lines += [f"  - {g}" for g in found]
        if reporter:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
