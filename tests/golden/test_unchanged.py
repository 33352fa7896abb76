"""The examples and the shared samples give the assessments recorded in tests/golden/ (see
snapshot.py); the feature scenarios are checked the same way from tests/conftest.py."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cds.ingest.load import load_resources
from cds.pipeline import assess
from tests.golden.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "fhir" / "examples").glob("*.json"))
SAMPLES = ROOT.parent / "shared" / "fhir-samples"
SAMPLE_FILES = sorted(SAMPLES.glob("*/*.json")) if SAMPLES.exists() else []
PROFILES = ("us-fda", "eu-smpc")

_EXAMPLES = Snapshot("examples")
_SAMPLES = Snapshot("samples")


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_assessment_unchanged(path: Path, profile: str) -> None:
    a = assess(load_resources(path), as_of=date(2025, 6, 2), profile=profile)  # type: ignore[arg-type]
    _EXAMPLES.check(f"{path.stem}/{profile}", a)


@pytest.mark.slow
@pytest.mark.skipif(
    not SAMPLE_FILES, reason="../shared/fhir-samples is not present (it ships beside the repo)"
)
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=[f.name[:60] for f in SAMPLE_FILES])
def test_sample_assessment_unchanged(path: Path, profile: str) -> None:
    a = assess(load_resources(path), as_of=date(2026, 11, 27), profile=profile)  # type: ignore[arg-type]
    _SAMPLES.check(f"{path.parent.name}/{path.name}/{profile}", a)
