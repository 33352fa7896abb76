"""Knowledge is one immutable value whose content hash names exactly the knowledge that decided."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

import cds.knowledge as knowledge_module
from cds.knowledge import Knowledge, content_hash, default_knowledge, default_stamp, stamp_without_compiling
from cds.paths import fhir_dir, rules_dir
from cds.pipeline import assess
from cds.synthetic import trd_patient


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    rules, fhir = tmp_path / "rules", tmp_path / "fhir"
    shutil.copytree(rules_dir(), rules)
    shutil.copytree(fhir_dir(), fhir)
    return rules, fhir


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_same_folders_give_the_same_hash(folders: tuple[Path, Path]) -> None:
    rules, fhir = folders
    assert content_hash(rules, fhir) == content_hash(rules, fhir) == content_hash(rules_dir(), fhir_dir())


@pytest.mark.parametrize(
    ("where", "old", "new"),
    [
        ("rules/settings.yaml", "min_trial_weeks: 6", "min_trial_weeks: 4"),  # a threshold
        ("rules/antidepressant-doses.yaml", "sertraline", "sertraline "),  # a dose table
        ("rules/contraindications/aneurysmal-vascular-disease.yaml", "title:", "title: "),  # a rule
        ("fhir/valuesets/major-depressive-disorder.json", '"F33.1"', '"F33.1" '),  # a value set
        ("fhir/code-systems.json", "{", "{ "),  # how codes are matched
    ],
)
def test_any_knowledge_change_changes_the_hash(
    folders: tuple[Path, Path], where: str, old: str, new: str
) -> None:
    rules, fhir = folders
    before = content_hash(rules, fhir)
    _edit(rules.parent / where, old, new)
    assert content_hash(rules, fhir) != before, f"an edit of {where} left the hash unchanged"


def test_a_new_knowledge_file_changes_the_hash(folders: tuple[Path, Path]) -> None:
    rules, fhir = folders
    before = content_hash(rules, fhir)
    (fhir / "valuesets" / "extra.json").write_text("{}")
    assert content_hash(rules, fhir) != before


def test_example_patients_are_not_knowledge(folders: tuple[Path, Path]) -> None:
    rules, fhir = folders
    before = content_hash(rules, fhir)
    (fhir / "examples" / "another-patient.json").write_text("{}")
    _edit(fhir / "examples" / "trd-eligible.json", "{", "{ ")
    assert content_hash(rules, fhir) == before


def test_a_change_to_the_package_source_changes_the_hash(
    folders: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules, fhir = folders
    package = tmp_path / "cds"
    shutil.copytree(
        Path(knowledge_module.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.setattr(knowledge_module, "_PACKAGE_DIR", package)
    before = content_hash(rules, fhir)
    _edit(package / "facts" / "trials.py", "from __future__", "# a changed fact computation\nfrom __future__")
    assert content_hash(rules, fhir) != before
    monkeypatch.setattr(knowledge_module, "PACKAGE_VERSION", "9.9.9")
    assert content_hash(rules, fhir) != before


def test_every_assessment_carries_version_and_hash() -> None:
    kb = default_knowledge()
    a = assess([e["resource"] for e in trd_patient().bundle()["entry"]], as_of=date(2025, 6, 2))
    assert a.ruleset.version == kb.version and a.ruleset.hash == kb.hash and len(kb.hash) == 64
    assert a.ruleset.stamp == kb.stamp == f"{kb.version}+{kb.hash[:16]}"


def test_the_stamp_read_without_compiling_equals_the_loaded_knowledges(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One source for the stamp: the Dask client reads it from the files and refuses workers whose
    compiled knowledge carries another, so the two must never drift (here: on an edited copy with
    its own version, named through the environment as a deployment names it)."""
    rules, fhir = folders
    _edit(rules / "settings.yaml", "ruleset_version:", "ruleset_version: 1999.1.1  #")
    _edit(rules / "settings.yaml", "min_trial_weeks: 6", "min_trial_weeks: 4")
    loaded = Knowledge.load(rules, fhir)
    assert loaded.version == "1999.1.1"
    assert stamp_without_compiling(rules, fhir) == loaded.stamp != default_knowledge().stamp
    monkeypatch.setenv("CDS_RULES_DIR", str(rules))
    monkeypatch.setenv("CDS_FHIR_DIR", str(fhir))
    monkeypatch.setattr(knowledge_module, "_DEFAULT", None)  # as a fresh process: nothing loaded
    assert default_stamp() == loaded.stamp
    assert knowledge_module._DEFAULT is None  # read, not compiled


def test_thresholds_have_one_source_facts_and_rules_read_the_same_settings(
    folders: tuple[Path, Path],
) -> None:
    """A copy of the knowledge with a 4-week trial minimum decides with 4 weeks everywhere: the
    trial facts (adequate duration) and the rules compiled from the same Knowledge."""
    rules, fhir = folders
    _edit(rules / "settings.yaml", "min_trial_weeks: 6", "min_trial_weeks: 4")
    four = Knowledge.load(rules, fhir)
    assert four.settings.trd.min_trial_weeks == 4 and four.hash != default_knowledge().hash
    # A patient whose second trial lasted 5 weeks: adequate under 4 weeks, not under 6.
    patient = trd_patient("five-weeks")
    resources = [e["resource"] for e in patient.bundle()["entry"]]
    for r in resources:
        if r["resourceType"] == "MedicationStatement" and "venlafaxine" in str(r):
            start = date.fromisoformat(r["effectivePeriod"]["start"])
            r["effectivePeriod"]["end"] = date.fromordinal(start.toordinal() + 35).isoformat()
            r["status"] = "completed"
            r["statusReason"] = [{"text": "lack of efficacy"}]
    six_weeks = assess(resources, as_of=date(2025, 6, 2))
    four_weeks = assess(resources, four, as_of=date(2025, 6, 2))
    assert six_weeks.indication.status != "eligible"
    assert four_weeks.indication.status == "eligible"
    assert four_weeks.ruleset.hash == four.hash


def test_one_exception_tree_and_one_status_table() -> None:
    """Every error a user can act on is a CdsError, and its HTTP status comes from one table."""
    from cds.audit.db import AuditError
    from cds.errors import CdsError, http_status
    from cds.ruleset.compile import UnsafeRuleError
    from cds.ruleset.loader import RulesetError
    from cds.security.jwks import JwksError
    from cds.security.jwt import AuthError
    from cds.service.models import BadRequest
    from cds.service.prefetch import DataUnavailable, PrefetchInvalid
    from cds.service.settings import SettingsError

    expected = {
        BadRequest(["x"]): 400,
        PrefetchInvalid("x"): 400,
        AuthError("x"): 401,
        DataUnavailable([]): 412,
        AuditError("x"): 503,
        SettingsError("x"): 500,
        JwksError("x"): 500,
        RulesetError([__import__("cds.ruleset.problems", fromlist=["Problem"]).Problem("f", 1, "m")]): 500,
        UnsafeRuleError("x"): 500,
        ValueError("a bug"): 500,
    }
    for exc, status in expected.items():
        assert http_status(exc) == status, type(exc).__name__
        if not isinstance(exc, ValueError) or isinstance(exc, CdsError):
            assert isinstance(exc, CdsError), f"{type(exc).__name__} is outside the tree"
