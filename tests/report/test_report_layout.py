"""Timeline layout: lane packing, label fitting, axis ticks (no browser)."""

from __future__ import annotations

from datetime import date

from cds.report.timeline_svg import Scale, fit_label, pack_lanes


def _overlaps(a: tuple[float, float], b: tuple[float, float], gap: float) -> bool:
    return a[0] < b[1] + gap and b[0] < a[1] + gap


def test_overlapping_spans_go_to_different_rows_and_disjoint_ones_share() -> None:
    spans = [(0.0, 100.0), (50.0, 150.0), (120.0, 200.0), (210.0, 260.0), (40.0, 60.0)]
    rows = pack_lanes(spans, gap=4)
    for i, a in enumerate(spans):
        for j, b in enumerate(spans[:i]):
            if rows[i] == rows[j]:
                assert not _overlaps(a, b, 4), (a, b)
    # At x=55 three spans overlap, so three rows are needed, and first fit uses no more.
    assert max(rows) + 1 == 3
    # A span that starts after the first row is free again reuses it rather than adding a row.
    assert rows[spans.index((120.0, 200.0))] == 0


def test_bars_closer_than_the_gap_do_not_share_a_row() -> None:
    assert pack_lanes([(0.0, 100.0), (102.0, 150.0)], gap=4) == [0, 1]
    assert pack_lanes([(0.0, 100.0), (104.0, 150.0)], gap=4) == [0, 0]


def test_many_nested_spans_need_one_row_each() -> None:
    spans = [(float(i), 1000.0 - i) for i in range(40)]
    assert sorted(pack_lanes(spans)) == list(range(40))


def test_label_fits_shortens_then_hides() -> None:
    assert fit_label("sertraline 150 mg", 400, "sertraline") == "sertraline 150 mg"
    assert fit_label("sertraline 150 mg", 90, "sertraline") == "sertraline"
    cut = fit_label("sertraline 150 mg", 60, "sertraline")
    assert cut.endswith("…") and "sertraline".startswith(cut[:-1]) and len(cut) >= 6
    assert fit_label("sertraline 150 mg", 30, "sertraline") == ""


def test_scale_maps_dates_linearly_and_ticks_by_span() -> None:
    s = Scale(date(2020, 1, 1), date(2030, 1, 1), 0, 1000)
    assert s.x(date(2020, 1, 1)) == 0 and s.x(date(2030, 1, 1)) == 1000
    assert abs(s.x(date(2025, 1, 1)) - 500) < 1
    assert [label for _, label in s.ticks()][:3] == ["2020", "2021", "2022"]
    short = Scale(date(2025, 1, 15), date(2025, 4, 20))
    assert [label for _, label in short.ticks()] == ["Feb 2025", "Mar 2025", "Apr 2025"]
