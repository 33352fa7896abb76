"""Governance without git history: the committed release lock (rules/release.yaml) makes an
unbumped change to a rule, a setting, a table or a value set fail `cds rules lint` (and so
`make test` and CI); `cds rules release` records a release. The concept vocabulary is data."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cds.knowledge import Knowledge, default_knowledge
from cds.paths import fhir_dir, rules_dir
from cds.release import check_release, write_lock

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "contract" / "ASSESSMENT.md"


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    rules, fhir = tmp_path / "rules", tmp_path / "fhir"
    shutil.copytree(rules_dir(), rules)
    shutil.copytree(fhir_dir(), fhir, ignore=shutil.ignore_patterns("examples"))
    return rules, fhir


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _problems(rules: Path, fhir: Path) -> list[str]:
    return [str(p) for p in check_release(Knowledge.load(rules, fhir))]


def test_the_shipped_knowledge_matches_its_release_lock() -> None:
    assert check_release(default_knowledge()) == []


def test_a_threshold_changed_without_a_new_ruleset_version_fails(folders: tuple[Path, Path]) -> None:
    rules, fhir = folders
    _edit(rules / "settings.yaml", "min_trial_weeks: 6", "min_trial_weeks: 4")
    problems = _problems(rules, fhir)
    assert any(p.startswith("rules/settings.yaml: changed since release") for p in problems), problems
    _edit(rules / "settings.yaml", "ruleset_version: ", "ruleset_version: 9")
    assert _problems(rules, fhir) == []


def test_a_value_set_changed_without_a_new_ruleset_version_fails(folders: tuple[Path, Path]) -> None:
    rules, fhir = folders
    _edit(fhir / "valuesets" / "major-depressive-disorder.json", '"F33.1"', '"F33.9"')
    problems = _problems(rules, fhir)
    assert any("fhir/valuesets/major-depressive-disorder.json: changed since release" in p for p in problems)


def test_a_rule_changed_without_a_version_bump_fails_with_its_file(folders: tuple[Path, Path]) -> None:
    rules, fhir = folders
    rule = rules / "precautions" / "older-adult.yaml"
    text = rule.read_text()
    _edit(rule, "{ge: 65}", "{ge: 60}")
    problems = _problems(rules, fhir)
    assert any(
        re.search(r"older-adult\.yaml:2: precaution\.older-adult: changed since release .* not bumped", p)
        for p in problems
    ), problems
    version = re.search(r"^version: (\S+)", text, re.M)
    assert version
    major, minor, _ = version.group(1).split(".")
    _edit(rule, f"version: {version.group(1)}", f"version: {major}.{int(minor) + 1}.0")
    assert _problems(rules, fhir) == []


def test_a_comment_or_reformatting_is_not_a_change(folders: tuple[Path, Path]) -> None:
    rules, fhir = folders
    _edit(rules / "settings.yaml", "trd:", "# a reviewer's note\ntrd:")
    rule = rules / "precautions" / "older-adult.yaml"
    rule.write_text("# reviewed 2026-12-01\n" + rule.read_text())
    assert _problems(rules, fhir) == []


def test_release_records_the_change_and_then_lint_passes(folders: tuple[Path, Path]) -> None:
    rules, fhir = folders
    _edit(rules / "settings.yaml", "min_trial_weeks: 6", "min_trial_weeks: 4")
    _edit(rules / "settings.yaml", "ruleset_version: ", "ruleset_version: 9")
    kb = Knowledge.load(rules, fhir)
    lock = write_lock(kb, rules / "release.yaml")
    assert lock.ruleset_version == kb.version and check_release(kb) == []
    # ... and the next unbumped change is caught against the new release.
    _edit(rules / "settings.yaml", "min_trial_weeks: 4", "min_trial_weeks: 5")
    assert _problems(rules, fhir)


def test_cds_rules_lint_fails_on_an_unbumped_change_without_git(folders: tuple[Path, Path]) -> None:
    rules, _ = folders
    _edit(rules / "precautions" / "older-adult.yaml", "{ge: 65}", "{ge: 60}")
    out = subprocess.run(
        [sys.executable, "-m", "cds", "rules", "lint", str(rules)],
        capture_output=True,
        text=True,
        cwd=rules.parent,
    )
    assert out.returncode == 1
    assert "precaution.older-adult: changed since release" in out.stderr


def test_a_new_concept_is_one_line_of_data(folders: tuple[Path, Path]) -> None:
    rules, fhir = folders
    rule = rules / "precautions" / "older-adult.yaml"
    _edit(rule, "concept: older-adult", "concept: frailty")
    with pytest.raises(Exception, match="concept 'frailty' is not in the vocabulary"):
        Knowledge.load(rules, fhir)
    with (rules / "concepts.yaml").open("a") as f:
        f.write('  frailty: {group: contraindications-and-precautions, contract: false, why: "test"}\n')
    assert "frailty" in Knowledge.load(rules, fhir).concepts


@pytest.mark.skipif(
    not CONTRACT.exists(), reason="../shared/contract is not present (it ships beside the repo)"
)
def test_the_concept_vocabulary_holds_the_contracts_terms_exactly() -> None:
    text = CONTRACT.read_text()
    section = text[text.index("## Concept vocabulary") :]
    contract_terms = set(re.findall(r"`([a-z0-9-]+)`", section))
    data = yaml.safe_load((rules_dir() / "concepts.yaml").read_text())["concepts"]
    marked = {term for term, c in data.items() if c["contract"]}
    assert marked == contract_terms, (
        f"missing: {sorted(contract_terms - marked)}; marked contract but not in it: {sorted(marked - contract_terms)}"
    )
    assert all(c.get("why") for c in data.values() if not c["contract"])
