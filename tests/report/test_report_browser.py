"""The report in a real headless Chromium: what a clinician looks for, offline, accessible.

Each case saves the page and a full-page PNG to test-artifacts/. With
CDS_UPDATE_DOCS_SCREENSHOT=1 the TRD case also rewrites docs/report-screenshot.png.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cds.contract.assessment import Assessment
from cds.contract.timeline import Timeline
from cds.report import render_html

from .cases import BP_GAP, WEIGHT_GAP, contraindicated, data_gaps, synthetic_history, trd_eligible
from .conftest import ARTIFACTS, Watched

if TYPE_CHECKING:
    from playwright.sync_api import Browser

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report-screenshot.png"

# Bars of one lane whose boxes intersect (beyond rounding), per chart.
_OVERLAPS_JS = """() => {
  const out = [];
  for (const lane of document.querySelectorAll('svg.timeline g.lane')) {
    const boxes = [...lane.querySelectorAll('rect.bar')].map(r => r.getBoundingClientRect());
    for (let i = 0; i < boxes.length; i++) for (let j = 0; j < i; j++) {
      const a = boxes[i], b = boxes[j];
      const x = a.left < b.right - 0.5 && b.left < a.right - 0.5;
      if (x && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
        out.push([lane.closest('svg').id, lane.dataset.lane, i, j]);
    }
  }
  return out;
}"""

# Every trial bar: its title, its visible label, and whether the label fits inside the bar in
# the fonts the browser really used (the layout only estimates glyph widths).
_TRIALS_JS = """(svgId) => [...document.querySelectorAll(`#${svgId} g.trial`)].map(g => {
  const rect = g.querySelector('rect.bar'), label = g.querySelector('text.bar-label');
  const r = rect.getBoundingClientRect(), t = label ? label.getBoundingClientRect() : null;
  return {drug: g.dataset.drug, title: g.querySelector('title').textContent,
          label: label ? label.textContent : '',
          fits: !t || (t.left >= r.left - 0.5 && t.right <= r.right + 0.5)};
})"""

# WCAG AA contrast of every HTML text run against its effective background colour.
_CONTRAST_JS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest('svg')) continue;
    const style = getComputedStyle(el);
    const [l1, l2] = [lum(rgb(style.color)), lum(background(el))].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) bad.push([n.textContent.trim().slice(0, 40), ratio.toFixed(2)]);
  }
  return bad;
}"""


def _load(w: Watched, name: str, html: str) -> float:
    """Render the page; returns seconds until it is laid out. Saves the HTML and a screenshot."""
    (ARTIFACTS / f"{name}.html").write_text(html, encoding="utf-8")
    began = time.perf_counter()
    w.page.set_content(html, wait_until="load")
    w.page.evaluate("() => document.body.getBoundingClientRect().height")  # forces layout
    elapsed = time.perf_counter() - began
    w.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    return elapsed


def _assert_offline_and_clean(w: Watched) -> None:
    assert w.console_errors == []
    assert w.requests == []


def _assert_accessible(w: Watched) -> None:
    page = w.page
    assert page.evaluate("() => document.documentElement.lang") == "en"
    levels: list[int] = page.evaluate(
        "() => [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => Number(h.tagName[1]))"
    )
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in pairwise(levels)), levels
    assert page.evaluate(_CONTRAST_JS) == []
    # The chart's words are text, not outlines: a screen reader and Ctrl+F can find them.
    assert page.locator("svg.timeline text").count() > 0
    for svg in page.locator("svg.timeline").all():
        assert svg.get_attribute("role") == "img" and svg.get_attribute("aria-labelledby")


def _verdicts(w: Watched) -> dict[str, str]:
    cards = w.page.locator("article.verdict")
    return {
        str(cards.nth(i).get_attribute("data-product")): cards.nth(i).locator(".word").inner_text()
        for i in range(cards.count())
    }


def _trials(w: Watched, svg_id: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = w.page.evaluate(_TRIALS_JS, svg_id)
    return result


def _render(case: Callable[[], tuple[Assessment, Timeline]]) -> tuple[Assessment, Timeline, str]:
    a, tl = case()
    return a, tl, render_html(a, tl)


def test_trd_eligible_patient(watched: Watched) -> None:
    _, tl, html = _render(trd_eligible)
    _load(watched, "trd", html)
    page = watched.page

    assert _verdicts(watched) == {"esketamine": "Appropriate", "ketamine-iv": "Appropriate"}
    assert page.locator("[data-indication]").inner_text() == "Eligible"
    header = page.locator("header").inner_text()
    assert "45 years, female" in header and "2025-06-02" in header and "2025.06.0" in header
    assert "US (FDA label)" in header

    # One bar per trial in the whole-history chart, each titled with its drug and dose.
    bars = _trials(watched, "kc-tl-all")
    assert sorted(b["drug"] for b in bars) == sorted(t.drug for t in tl.trials)
    for bar, expected in (("sertraline", "sertraline 150 mg/day"), ("mirtazapine", "mirtazapine 15 mg/day")):
        (title,) = [b["title"] for b in bars if b["drug"] == bar]
        assert title.startswith(expected)
    assert "adequate dose: no (minimum 30 mg)" in next(b["title"] for b in bars if b["drug"] == "mirtazapine")
    # The current-episode chart gives the two failed adequate trials room for full labels.
    current = {b["drug"]: b["label"] for b in _trials(watched, "kc-tl-current")}
    assert current["sertraline"] == "sertraline 150 mg" and current["venlafaxine"] == "venlafaxine 225 mg"
    assert all(b["fits"] for b in bars + _trials(watched, "kc-tl-current"))
    # Adequacy reads without colour: the inadequate trial's bar is dashed.
    mirtazapine = page.locator('#kc-tl-all g.trial[data-drug="mirtazapine"] rect.bar')
    assert mirtazapine.get_attribute("stroke-dasharray")
    assert (
        page.locator('#kc-tl-all g.trial[data-drug="sertraline"] rect.bar').get_attribute("stroke-dasharray")
        is None
    )

    # The text alternative: the same trials, with dates and adequacy.
    rows = page.locator("table.trials tbody tr")
    assert rows.count() == len(tl.trials)
    assert "sertraline | 150 mg (min 50 mg) | 2024-06-15 | 2024-09-20" in " | ".join(
        rows.nth(1).locator("td").all_inner_texts()
    )

    # The first esketamine session is on the evaluation date, at the label's start dose.
    first = page.locator('table.calendar[data-product="esketamine"] td.session').first
    assert first.get_attribute("data-date") == "2025-06-02" and "Session 1: 56 mg" in first.inner_text()
    assert page.locator('table.calendar[data-product="esketamine"] td.session').count() == 12
    assert page.locator('table.calendar[data-product="ketamine-iv"] td.session').count() == 6

    _assert_accessible(watched)
    _assert_offline_and_clean(watched)


@pytest.mark.skipif(
    os.environ.get("CDS_UPDATE_DOCS_SCREENSHOT") != "1",
    reason="set CDS_UPDATE_DOCS_SCREENSHOT=1 to rewrite docs/report-screenshot.png",
)
def test_docs_screenshot(browser: Browser) -> None:
    """The README picture of the TRD case: verdicts down to the timeline's legend.

    Drawn at 0.75 device pixels per CSS pixel so it stays small enough to commit.
    """
    context = browser.new_context(viewport={"width": 1240, "height": 900}, device_scale_factor=0.75)
    page = context.new_page()
    page.route("**/*", lambda route: route.abort())
    page.set_content(render_html(*trd_eligible()), wait_until="load")
    bottom = page.evaluate("() => document.querySelector('ul.legend').getBoundingClientRect().bottom")
    page.screenshot(
        path=str(DOCS_SCREENSHOT), full_page=True, clip={"x": 0, "y": 0, "width": 1240, "height": bottom + 16}
    )
    context.close()
    assert DOCS_SCREENSHOT.stat().st_size <= 200_000


def test_contraindicated_patient(watched: Watched) -> None:
    _, _, html = _render(contraindicated)
    _load(watched, "contraindicated", html)
    page = watched.page

    assert _verdicts(watched) == {"esketamine": "Contraindicated", "ketamine-iv": "Contraindicated"}
    absolute = page.locator('article.finding[data-severity="absolute"]')
    assert absolute.count() == 1
    assert "Aneurysmal vascular disease" in absolute.locator("h4").inner_text()
    assert absolute.locator("code").all_inner_texts() == [
        "contraindication.aneurysmal-vascular-disease",
        "Condition/aaa-1",
    ]
    link = absolute.locator("a")
    assert link.inner_text() == "SPRAVATO prescribing information"
    assert link.get_attribute("href", timeout=1000) == "https://www.example.org/spravato-pi"
    # The absolute group comes first, under its own heading.
    assert page.locator("#kc-findings ~ h3").first.inner_text().startswith("Absolute")
    # No calendar for a product that must not be started, and the page says why.
    assert page.locator("table.calendar").count() == 0
    assert page.locator("p.no-calendar").all_inner_texts() == [
        "No calendar: Esketamine nasal spray is contraindicated for this patient (see Findings).",
        "No calendar: Ketamine IV infusion (off-label) is contraindicated for this patient (see Findings).",
    ]
    assert page.locator('#kc-tl-all g.adjunct[data-name="ECT, 8 sessions"]').count() == 1

    _assert_accessible(watched)
    _assert_offline_and_clean(watched)


def test_patient_with_data_gaps(watched: Watched) -> None:
    _, _, html = _render(data_gaps)
    _load(watched, "gaps", html)
    page = watched.page

    assert _verdicts(watched) == {"esketamine": "Insufficient data", "ketamine-iv": "Insufficient data"}
    gaps = page.locator("#kc-gaps ~ article.finding.gap")
    assert gaps.count() == 2
    bp = page.locator('article.gap[data-concept="blood-pressure"]')
    assert bp.locator("h3").inner_text() == "No blood pressure recorded in the last 30 days"
    assert bp.locator(".obtain").inner_text() == f"Obtain: {BP_GAP}"
    assert "Blocks clearance of: Esketamine nasal spray, Ketamine IV infusion (off-label)" in bp.inner_text()
    # Esketamine's calendar is shown but marked provisional; IV ketamine has none, and why.
    assert page.locator('table.calendar[data-product="esketamine"]').count() == 1
    no_iv = page.locator('p.no-calendar[data-product="ketamine-iv"]').inner_text()
    assert no_iv.startswith("No calendar: dosing could not be computed") and WEIGHT_GAP in no_iv
    # No reading falls in the shaded 30-day blood-pressure window.
    assert page.locator("#kc-tl-current g.bp-point").count() == 2

    _assert_accessible(watched)
    _assert_offline_and_clean(watched)


def test_forty_overlapping_trials_over_ten_years(
    watched: Watched, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, html = _render(synthetic_history)
    seconds = _load(watched, "synthetic", html)

    assert len(_trials(watched, "kc-tl-all")) == 40
    assert watched.page.evaluate(_OVERLAPS_JS) == []
    assert all(b["fits"] for b in _trials(watched, "kc-tl-all"))
    _assert_offline_and_clean(watched)
    with capsys.disabled():  # reported, not asserted: timing belongs to the benchmarks
        print(
            f"\n[report] 40 trials over 10 years: {len(html) / 1024:.0f} KiB, "
            f"rendered in {seconds * 1000:.0f} ms"
        )
