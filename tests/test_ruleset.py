"""Rule files: the shipped set loads and lints; broken copies fail with file and line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cds.knowledge import Knowledge
from cds.paths import rules_dir
from cds.ruleset.loader import RulesetError, load_ruleset


def test_shipped_rules_load_with_id_version_statement_and_citation() -> None:
    rs = load_ruleset(rules_dir())
    assert len(rs.rules) >= 20
    for rule in rs.rules:
        assert rule.citation.url.startswith("http") and rule.statement and rule.version


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "rules"
    shutil.copytree(rules_dir(), dest)
    return dest


def _break(folder: Path, rel: str, old: str, new: str) -> None:
    path = folder / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "message", "line"),
    [
        ("version: 1.1.1", "version: one", "version must be MAJOR.MINOR.PATCH", 2),
        (
            "valueset: aneurysmal-vascular-disease",
            "valueset: aneurysm-typo",
            "unknown value set 'aneurysm-typo'",
            17,
        ),
        ("fact: condition", "fact: conditon", "unknown fact 'conditon'; did you mean 'condition'", 15),
        (
            "  url: https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=d81a6a79-a74a-44b7-822c-0dfa3036eaed\n",
            "",
            "citation.url: Field required",
            10,
        ),
        ("concept: aneurysmal-vascular-disease", "concept: big-aneurysm", "not in the vocabulary", 22),
        (
            "      valueset: aneurysmal-vascular-disease",
            "      valueset: aneurysmal-vascular-disease\n      status: {in: [active]}\n      onset_days_ago: {gt: 10, lt: 5}",
            "contradictory bounds",
            19,
        ),
    ],
    ids=["version", "valueset", "fact", "citation", "concept", "contradiction"],
)
def test_broken_rule_is_reported_with_file_and_nothing_loads(
    rules_copy: Path, old, new, message, line
) -> None:
    _break(rules_copy, "contraindications/aneurysmal-vascular-disease.yaml", old, new)
    with pytest.raises(RulesetError) as err:
        Knowledge.load(rules_copy)
    text = "\n".join(str(p) for p in err.value.problems)
    assert "aneurysmal-vascular-disease.yaml" in text
    assert message in text
    if line:
        assert f".yaml:{line}:" in text


def test_duplicate_ids_are_refused(rules_copy: Path) -> None:
    shutil.copy(
        rules_copy / "contraindications/pregnancy.yaml", rules_copy / "contraindications/pregnancy-copy.yaml"
    )
    with pytest.raises(RulesetError, match=r"duplicate rule id contraindication\.pregnancy"):
        load_ruleset(rules_copy)


def test_cds_rules_lint_cli(rules_copy: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "cds", "rules", "lint"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    _break(rules_copy, "data-gaps/blood-pressure.yaml", "obtain:", "obtian:")
    bad = subprocess.run(
        [sys.executable, "-m", "cds", "rules", "lint", str(rules_copy)], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "blood-pressure.yaml" in bad.stderr and "obtian" in bad.stderr


def test_lint_fails_on_a_changed_rule_whose_version_was_not_bumped(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(rules_dir(), repo / "rules")
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "rules"], cwd=repo, check=True)
    rule = repo / "rules/precautions/older-adult.yaml"
    rule.write_text(rule.read_text().replace("age_max_years: {ge: 65}", "age_max_years: {ge: 60}"))
    lint = [sys.executable, "-m", "cds", "rules", "lint", str(repo / "rules"), "--base", "HEAD"]
    bad = subprocess.run(lint, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "precaution.older-adult: changed since HEAD but version 2.0.1 was not bumped" in bad.stderr
    rule.write_text(rule.read_text().replace("version: 2.0.1", "version: 2.1.0"))
    assert subprocess.run(lint, capture_output=True, text=True).returncode == 0


def test_lint_with_an_unknown_base_revision_is_an_error_not_a_pass(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(rules_dir(), repo / "rules")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    lint = [sys.executable, "-m", "cds", "rules", "lint", str(repo / "rules"), "--base", "no-such-revision"]
    bad = subprocess.run(lint, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "--base no-such-revision: not a git revision" in bad.stderr


def test_a_threshold_written_as_a_number_in_card_text_is_refused(rules_copy: Path) -> None:
    """Text and logic cannot drift: a number the rule reads from a setting must be templated."""
    _break(
        rules_copy,
        "indication/trd-not-met.yaml",
        "{settings.trd.min_failed_trials} are needed",
        "2 are needed",
    )
    with pytest.raises(RulesetError) as err:
        Knowledge.load(rules_copy)
    text = "\n".join(str(p) for p in err.value.problems)
    assert re.search(r"trd-not-met\.yaml:\d+: ", text) and "write {settings.trd.min_failed_trials}" in text


def test_a_templated_threshold_renders_the_setting_value(rules_copy: Path) -> None:
    from datetime import date

    from cds.pipeline import assess
    from cds.synthetic import trd_patient

    _break(rules_copy, "settings.yaml", "min_failed_trials: 2", "min_failed_trials: 3")
    kb = Knowledge.load(rules_copy)
    resources = [e["resource"] for e in trd_patient("one-trial").bundle()["entry"]]
    resources = [r for r in resources if "venlafaxine" not in str(r)]
    a = assess(resources, kb, as_of=date(2025, 6, 2))
    assert any("at least 3 are needed for TRD" in r for r in a.indication.reasons), a.indication.reasons


def test_the_service_refuses_to_start_on_an_invalid_rule_set(rules_copy: Path) -> None:
    import os

    _break(rules_copy, "precautions/older-adult.yaml", "fact: patient", "fact: patiant")
    out = subprocess.run(
        [sys.executable, "-m", "cds", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CDS_RULES_DIR": str(rules_copy), "CDS_AUTH": "off"},
    )
    assert out.returncode == 2
    assert "older-adult.yaml" in out.stderr and "unknown fact 'patiant'" in out.stderr
    assert "the service was not started" in out.stderr and "Traceback" not in out.stderr


def test_an_unknown_operator_is_named_with_the_list_and_a_guess(rules_copy: Path) -> None:
    _break(rules_copy, "precautions/older-adult.yaml", "{ge: 65}", "{gte: 65}")
    with pytest.raises(RulesetError) as err:
        Knowledge.load(rules_copy)
    problems = err.value.problems
    assert len(problems) == 1, problems
    text = str(problems[0])
    assert re.search(r"older-adult\.yaml:\d+: ", text)
    assert "unknown operator 'gte'; did you mean" in text and "operators: eq, ne, lt" in text


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://www.usmedicine.com/2021online-dir/inc/html/30.html", "not on the allow-list"),
        ("https://uat.mims.com/philippines/drug/info/spravato", "not on the allow-list"),
        ("http://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=x", "not https"),
    ],
)
def test_a_citation_host_off_the_allow_list_is_refused(rules_copy: Path, url: str, why: str) -> None:
    """Issue 13 item 13: rules cite canonical sources (CITATIONS.md), never mirrors or test servers."""
    path = rules_copy / "contraindications" / "aneurysmal-vascular-disease.yaml"
    text = path.read_text()
    path.write_text(re.sub(r"(?m)^  url: .*$", f"  url: {url}", text, count=1))
    with pytest.raises(RulesetError) as err:
        Knowledge.load(rules_copy)
    messages = "\n".join(str(p) for p in err.value.problems)
    assert re.search(r"aneurysmal-vascular-disease\.yaml:\d+: .*" + why, messages), messages


def test_every_shipped_rule_cites_an_allowed_host() -> None:
    from cds.ruleset.lint import citation_problem

    ruleset = load_ruleset(rules_dir())
    assert not [
        (r.id, citation_problem(r.citation.url)) for r in ruleset.rules if citation_problem(r.citation.url)
    ]
