"""Reports of real assessments (the whole pipeline: FHIR → facts → rules → report) in Chromium."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cds.ingest.load import load_resources
from cds.pipeline import evaluate
from cds.report import render_html

from .conftest import Watched
from .test_report_browser import _OVERLAPS_JS, _assert_offline_and_clean, _load, _trials, _verdicts

ROOT = Path(__file__).resolve().parents[2]
SYNTHEA_1MB = (
    ROOT.parent
    / "shared"
    / "fhir-samples"
    / "synthea-r4"
    / "Gilberto_Orosco_6ece62f3-283c-4387-aa9b-affba8ebf4c3.json"
)


def _page(watched: Watched, path: Path, as_of: date, name: str) -> float:
    ev = evaluate(load_resources(path), as_of=as_of)
    return _load(watched, name, render_html(ev.assessment, ev.timeline))


@pytest.mark.parametrize(
    ("example", "esketamine", "text"),
    [
        ("trd-eligible.json", "Appropriate", "venlafaxine"),
        ("aneurysm.json", "Contraindicated", "Abdominal aortic aneurysm"),
        ("no-recent-bp.json", "Insufficient data", "Measure blood pressure"),
    ],
)
def test_example_patient_report(watched: Watched, example: str, esketamine: str, text: str) -> None:
    _page(watched, ROOT / "fhir" / "examples" / example, date(2025, 6, 2), f"pipeline-{example[:-5]}")
    assert _verdicts(watched)["esketamine"] == esketamine
    assert text in watched.page.locator("body").inner_text()
    # Both example trials are drawn as bars, labelled with their drug.
    assert sorted(b["drug"] for b in _trials(watched, "kc-tl-all")) == ["sertraline", "venlafaxine"]
    _assert_offline_and_clean(watched)


@pytest.mark.skipif(not SYNTHEA_1MB.exists(), reason="../shared/fhir-samples is not present")
def test_one_megabyte_synthea_patient_renders_readably(
    watched: Watched, capsys: pytest.CaptureFixture[str]
) -> None:
    seconds = _page(watched, SYNTHEA_1MB, date(2026, 11, 27), "pipeline-synthea-1mb")
    assert watched.page.evaluate(_OVERLAPS_JS) == []
    assert all(b["fits"] for b in _trials(watched, "kc-tl-all"))
    _assert_offline_and_clean(watched)
    with capsys.disabled():  # reported, not asserted: timing belongs to the benchmarks
        print(f"\n[report] 1 MB Synthea patient rendered in {seconds * 1000:.0f} ms of browser time")
