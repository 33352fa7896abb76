"""The treatment timeline as inline SVG: episodes, trials, adjuncts, blood pressure and PHQ-9
on one time axis, with the look-back windows shaded.

Layout is computed here in user units of a fixed-width viewBox; the page scales the SVG to
its container. Everything that carries meaning is also in the tables beside the chart (the
text alternative), and every mark has a `<title>` so a narrow bar whose label had to be
hidden can still be read by hovering or by a screen reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

from cds.contract.assessment import AdjunctTreatment, Trial
from cds.contract.timeline import Timeline

WIDTH = 1100.0
LEFT = 150.0  # gutter for the lane names
RIGHT = 16.0
ROW_H = 24.0
BAR_H = 18.0
FONT = 11.0
# Average advance of a sans-serif glyph as a share of the font size; a little generous so an
# estimated fit is a real fit (the page fonts are the system's, not known here).
_CHAR_W = 0.62
_MIN_BAR_W = 3.0  # a one-day trial over ten years is still visible
_BAR_GAP = 4.0  # horizontal space kept between bars of one row

BP_H = 84.0
BP_RANGE = (40.0, 200.0)
PHQ_H = 64.0
PHQ_RANGE = (0.0, 27.0)

# Outcome: colour and fill pattern (so it survives black-and-white printing).
OUTCOMES: dict[str, tuple[str, str]] = {
    # outcome: (legend text, fill)
    "failed": ("Failed", "#D55E00"),
    "intolerance": ("Stopped for intolerance", "url(#kc-pat-intolerance)"),
    "ongoing": ("Ongoing", "url(#kc-pat-ongoing)"),
    "remission": ("Remission", "url(#kc-pat-remission)"),
    "unknown": ("Outcome unknown", "#FFFFFF"),
}
OUTCOME_STROKE: dict[str, str] = {
    "failed": "#6B2400",
    "intolerance": "#7A2E5C",
    "ongoing": "#004B75",
    "remission": "#00573F",
    "unknown": "#4D4D4D",
}
# Adequacy (dose and duration): stroke dashes.
ADEQUACY: dict[str, tuple[str, str | None]] = {
    # adequacy: (legend text, stroke-dasharray)
    "adequate": ("Adequate dose and duration", None),
    "inadequate": ("Inadequate dose or duration", "6 3"),
    "undetermined": ("Adequacy cannot be determined", "1.5 2.5"),
}

# Defined once per page (several charts and the legend refer to them by id).
PATTERN_DEFS = """<svg class="defs" width="0" height="0" aria-hidden="true" focusable="false"><defs>
<pattern id="kc-pat-intolerance" width="8" height="8" patternUnits="userSpaceOnUse">
<rect width="8" height="8" fill="#F7DCEB"/><path d="M0 0L8 8M8 0L0 8" stroke="#A3417C" stroke-width="1.4"/>
</pattern>
<pattern id="kc-pat-ongoing" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="6" height="6" fill="#D6E9F5"/><rect width="2.2" height="6" fill="#0072B2"/>
</pattern>
<pattern id="kc-pat-remission" width="6" height="6" patternUnits="userSpaceOnUse">
<rect width="6" height="6" fill="#D5F0E6"/><circle cx="3" cy="3" r="1.4" fill="#00795A"/>
</pattern>
<pattern id="kc-pat-window" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">
<rect width="6" height="6" fill="#FFFBE8"/><rect width="1" height="6" fill="#F1E3A6"/>
</pattern>
</defs></svg>"""


@dataclass(frozen=True)
class Scale:
    """Dates to x in user units."""

    start: date
    end: date
    x0: float = LEFT
    x1: float = WIDTH - RIGHT

    def x(self, d: date) -> float:
        span = max((self.end - self.start).days, 1)
        return self.x0 + (d - self.start).days / span * (self.x1 - self.x0)

    def ticks(self) -> list[tuple[date, str]]:
        """Year ticks over long spans, quarters over a few years, months otherwise."""
        days = (self.end - self.start).days
        step = 12 if days > 5 * 365 else 3 if days > 400 else 1
        d = date(self.start.year, self.start.month, 1)
        out: list[tuple[date, str]] = []
        while d <= self.end:
            if d >= self.start and (d.month - 1) % step == 0:
                label = str(d.year) if step == 12 else f"{_MONTHS[d.month - 1]} {d.year}"
                out.append((d, label))
            d = date(d.year + d.month // 12, d.month % 12 + 1, 1)
        return out


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def pack_lanes(spans: Sequence[tuple[float, float]], gap: float = _BAR_GAP) -> list[int]:
    """Row index for each (x_start, x_end) span so that no two spans in one row overlap.

    First fit in order of start: for intervals this uses the fewest rows possible (the
    largest number of spans over any one point), so stacking never grows needlessly.
    """
    rows_end: list[float] = []
    rows: list[int] = [0] * len(spans)
    for i in sorted(range(len(spans)), key=lambda k: (spans[k][0], spans[k][1])):
        x_start, x_end = spans[i]
        for r, end in enumerate(rows_end):
            if end + gap <= x_start:
                rows[i] = r
                rows_end[r] = x_end
                break
        else:
            rows[i] = len(rows_end)
            rows_end.append(x_end)
    return rows


def fit_label(text: str, width: float, short: str | None = None, font: float = FONT) -> str:
    """What fits in width: the label, else its short form (e.g. the drug without the dose), else
    the short form cut with an ellipsis; '' when fewer than 5 characters would show, since a
    stub like 'se…' tells a reader nothing (the `<title>` and the table still have it all)."""
    room = int((width - 8) / (font * _CHAR_W))
    for candidate in (text, short):
        if candidate and room >= len(candidate):
            return candidate
    base = short or text
    if room < 6:
        return ""
    return base[: room - 1].rstrip() + "…"


def trial_label(t: Trial) -> str:
    return f"{t.drug} {t.daily_dose_mg:g} mg" if t.daily_dose_mg is not None else f"{t.drug} (dose unknown)"


def adequacy(t: Trial) -> str:
    if t.adequate_dose is False or t.adequate_duration is False:
        return "inadequate"
    if t.adequate_dose and t.adequate_duration:
        return "adequate"
    return "undetermined"


def span_of(start: date | None, end: date | None, as_of: date) -> tuple[date, date, bool] | None:
    """(start, end, open_end) to draw; None when the start is unknown (table only).

    A missing end is drawn up to the evaluation date and marked open, never invented from
    the trial's weeks (those count only the part inside the current episode).
    """
    if start is None:
        return None
    if end is None:
        return (start, max(start, as_of), True)
    return (start, max(start, end), False)


def yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def trial_title(t: Trial) -> str:
    parts = [trial_label(t) + ("/day" if t.daily_dose_mg is not None else "")]
    dates = f"{t.start or 'start not recorded'} to {t.end or 'end not recorded'}"
    parts.append(dates + (f" ({t.weeks:g} weeks in the current episode)" if t.weeks is not None else ""))
    minimum = f" (minimum {t.minimum_daily_dose_mg:g} mg)" if t.minimum_daily_dose_mg is not None else ""
    parts.append(f"adequate dose: {yes_no(t.adequate_dose)}{minimum}")
    parts.append(f"adequate duration: {yes_no(t.adequate_duration)}")
    parts.append(f"outcome: {t.outcome}")
    parts.append(f"counts toward TRD: {yes_no(t.counts_as_failed)}")
    if t.note:
        parts.append(t.note)
    return "; ".join(parts)


def _domain(tl: Timeline) -> tuple[date, date]:
    dates: list[date] = [tl.as_of]
    for e in tl.episodes:
        dates += [d for d in (e.start, e.end) if d]
    for t in tl.trials:
        dates += [d for d in (t.start, t.end) if d]
    for a in tl.adjuncts:
        dates += [d for d in (a.start, a.end) if d]
    dates += [p.date for p in tl.blood_pressure] + [p.date for p in tl.phq9]
    for w in tl.windows:
        dates += [w.start, w.end]
    lo, hi = min(dates), max(dates)
    if (hi - lo).days < 90:  # a short history still gets a readable axis
        lo = hi - timedelta(days=90)
    pad = timedelta(days=max(3, (hi - lo).days // 50))
    return lo - pad, hi + pad


def _text(x: float, y: float, s: str, cls: str, anchor: str = "start") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">{escape(s)}</text>'


@dataclass(frozen=True)
class _Bar:
    start: date
    end: date
    open_end: bool
    label: str
    short: str | None  # a shorter label for a narrow bar
    title: str
    cls: str
    fill: str
    stroke: str
    dash: str | None
    data: dict[str, str]


def _bars_section(
    bars: Sequence[_Bar], scale: Scale, y: float, name: str, empty: str
) -> tuple[list[str], float]:
    """A lane of bars packed into rows; returns the SVG parts and the height used.

    Bars that ended before the scale starts are left out; bars that began before it are cut
    at its start (a zoomed view of the current episode)."""
    bars = [b for b in bars if b.end >= scale.start]
    starts = [scale.x(max(b.start, scale.start)) for b in bars]
    spans = [(xs, max(scale.x(b.end), xs + _MIN_BAR_W)) for b, xs in zip(bars, starts, strict=True)]
    rows = pack_lanes(spans)
    n_rows = max(rows, default=0) + 1
    height = n_rows * ROW_H + 8
    out = [
        f'<g class="lane" data-lane="{escape(name)}">',
        _text(8, y + height / 2 + 4, name, "lane-name"),
    ]
    out.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y + height:.1f}" y2="{y + height:.1f}" class="sep"/>'
    )
    if not bars:
        out.append(_text(LEFT + 6, y + height / 2 + 4, empty, "empty"))
    for b, (xs, xe), row in zip(bars, spans, rows, strict=True):
        by = y + 4 + row * ROW_H + (ROW_H - BAR_H) / 2
        data = "".join(f' data-{k}="{escape(v)}"' for k, v in b.data.items())
        out.append(f'<g class="{b.cls}" data-row="{row}"{data}><title>{escape(b.title)}</title>')
        dash = f' stroke-dasharray="{b.dash}"' if b.dash else ""
        out.append(
            f'<rect class="bar" x="{xs:.1f}" y="{by:.1f}" width="{xe - xs:.1f}" height="{BAR_H}" rx="2"'
            f' fill="{b.fill}" stroke="{b.stroke}" stroke-width="1.6"{dash}/>'
        )
        if b.open_end:  # an arrow head: the bar runs on (ongoing, or end not recorded)
            cy = by + BAR_H / 2
            out.append(
                f'<path d="M{xe:.1f} {by - 2:.1f}L{xe + 6:.1f} {cy:.1f}L{xe:.1f} {by + BAR_H + 2:.1f}Z"'
                f' fill="{b.stroke}"/>'
            )
        shown = fit_label(b.label, xe - xs, b.short)
        if shown:
            out.append(_text(xs + 4, by + BAR_H / 2 + FONT * 0.36, shown, "bar-label"))
        out.append("</g>")
    out.append("</g>")
    return out, height


def _trial_bars(trials: Iterable[Trial], as_of: date) -> list[_Bar]:
    bars: list[_Bar] = []
    for t in trials:
        span = span_of(t.start, t.end, as_of)
        if span is None:
            continue
        outcome = t.outcome if t.outcome in OUTCOMES else "unknown"
        adq = adequacy(t)
        bars.append(
            _Bar(
                *span,
                label=trial_label(t),
                short=t.drug,
                title=trial_title(t),
                cls="trial",
                fill=OUTCOMES[outcome][1],
                stroke=OUTCOME_STROKE[outcome],
                dash=ADEQUACY[adq][1],
                data={"drug": t.drug, "outcome": outcome, "adequacy": adq},
            )
        )
    return bars


def _adjunct_bars(adjuncts: Iterable[AdjunctTreatment], as_of: date) -> list[_Bar]:
    bars: list[_Bar] = []
    for a in adjuncts:
        span = span_of(a.start, a.end, as_of)
        if span is None:
            continue
        title = f"{a.name}: {a.start} to {a.end or 'end not recorded'}"
        bars.append(_Bar(*span, a.name, None, title, "adjunct", "#E8E8F4", "#3B3B7A", None, {"name": a.name}))
    return bars


def _series_frame(y: float, h: float, name: str, lo: float, hi: float, refs: Sequence[float]) -> list[str]:
    out = [_text(8, y + h / 2 + 4, name, "lane-name")]
    for v in refs:
        yy = y + h - (v - lo) / (hi - lo) * h
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" class="ref"/>')
        out.append(_text(LEFT - 4, yy + 3.5, f"{v:g}", "tick-small", "end"))
    out.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y + h + 6:.1f}" y2="{y + h + 6:.1f}" class="sep"/>'
    )
    return out


def _bp_section(tl: Timeline, scale: Scale, y: float) -> tuple[list[str], float]:
    lo, hi = BP_RANGE
    h = BP_H

    def yv(v: float) -> float:
        return y + h - (min(max(v, lo), hi) - lo) / (hi - lo) * h

    out = [
        '<g class="lane" data-lane="Blood pressure">',
        *_series_frame(y, h, "Blood pressure", lo, hi, (90, 140)),
    ]
    points = sorted((p for p in tl.blood_pressure if p.date >= scale.start), key=lambda p: p.date)
    for attr, cls in (("systolic", "sys"), ("diastolic", "dia")):
        pts = [(scale.x(p.date), yv(v)) for p in points if (v := getattr(p, attr)) is not None]
        if len(pts) > 1:
            coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            out.append(f'<polyline class="series {cls}" points="{coords}"/>')
    for p in points:
        x = scale.x(p.date)
        reading = f"{p.systolic:g}" if p.systolic is not None else "?"
        reading += f"/{p.diastolic:g}" if p.diastolic is not None else "/?"
        out.append(f'<g class="bp-point"><title>{escape(f"{p.date}: {reading} mmHg ({p.ref})")}</title>')
        if p.systolic is not None:
            out.append(f'<circle cx="{x:.1f}" cy="{yv(p.systolic):.1f}" r="3" class="sys"/>')
        if p.diastolic is not None:
            d = yv(p.diastolic)
            out.append(f'<rect x="{x - 2.6:.1f}" y="{d - 2.6:.1f}" width="5.2" height="5.2" class="dia"/>')
        out.append("</g>")
    if not points:
        out.append(_text(LEFT + 6, y + h / 2 + 4, "No blood pressure recorded", "empty"))
    out.append("</g>")
    return out, h + 12


def _phq_section(tl: Timeline, scale: Scale, y: float) -> tuple[list[str], float]:
    lo, hi = PHQ_RANGE
    h = PHQ_H

    def yv(v: float) -> float:
        return y + h - (min(max(v, lo), hi) - lo) / (hi - lo) * h

    # 10 and 20: the moderate and severe cut-offs of the PHQ-9.
    out = ['<g class="lane" data-lane="PHQ-9">', *_series_frame(y, h, "PHQ-9", lo, hi, (10, 20))]
    points = sorted((p for p in tl.phq9 if p.date >= scale.start), key=lambda p: p.date)
    if len(points) > 1:
        coords = " ".join(f"{scale.x(p.date):.1f},{yv(p.value):.1f}" for p in points)
        out.append(f'<polyline class="series phq" points="{coords}"/>')
    for p in points:
        out.append(
            f'<g class="phq-point"><title>{escape(f"{p.date}: PHQ-9 {p.value:g} ({p.ref})")}</title>'
            f'<circle cx="{scale.x(p.date):.1f}" cy="{yv(p.value):.1f}" r="3" class="phq"/></g>'
        )
    if not points:
        out.append(_text(LEFT + 6, y + h / 2 + 4, "No PHQ-9 recorded", "empty"))
    out.append("</g>")
    return out, h + 12


def render_timeline_svg(tl: Timeline, ident: str, title: str, since: date | None = None) -> str:
    """One chart; `since` zooms in (e.g. on the current episode), `ident` keeps ids unique."""
    start, end = _domain(tl)
    scale = Scale(since or start, end)
    body: list[str] = []
    y = 30.0  # below the axis labels
    top = y

    episodes = [
        _Bar(
            *span,
            label="Current episode" if e.current else "Previous episode",
            short="Current" if e.current else "Previous",
            title=f"{'Current' if e.current else 'Previous'} depressive episode: "
            f"{e.start or 'start not recorded'} to {e.end or 'ongoing'}",
            cls="episode",
            fill="#EFEFEF" if not e.current else "#E4ECF7",
            stroke="#555555" if not e.current else "#2F5D9A",
            dash=None,
            data={"current": str(e.current).lower()},
        )
        for e in tl.episodes
        if (span := span_of(e.start, e.end, tl.as_of)) is not None
    ]
    sections = [
        (episodes, "Episodes", "No episode dates recorded"),
        (_trial_bars(tl.trials, tl.as_of), "Antidepressants", "No antidepressant trial recorded"),
        (
            _adjunct_bars((a for a in tl.adjuncts if a.kind == "augmentation"), tl.as_of),
            "Augmentation",
            "No augmentation recorded",
        ),
        (_adjunct_bars((a for a in tl.adjuncts if a.kind == "ect"), tl.as_of), "ECT", "No ECT recorded"),
    ]
    for bars, name, empty in sections:
        part, h = _bars_section(bars, scale, y, name, empty)
        body += part
        y += h
    for section in (_bp_section, _phq_section):
        part, h = section(tl, scale, y + 6)
        body += part
        y += h + 6
    bottom = y

    under: list[str] = []  # drawn first, so marks stay on top
    # Longest first and translucent, so a short window nested in a long one still shows.
    for w in sorted(tl.windows, key=lambda w: w.start - w.end):
        if w.end < scale.start:
            continue
        xs = scale.x(max(w.start, scale.start))
        xe = max(scale.x(w.end), xs + 2)
        under.append(
            f'<g class="window"><title>{escape(f"{w.name}: {w.start} to {w.end}")}</title>'
            f'<rect x="{xs:.1f}" y="{top:.1f}" width="{xe - xs:.1f}" height="{bottom - top:.1f}"'
            f' fill="url(#kc-pat-window)" fill-opacity="0.6" stroke="#B59B2A" stroke-width="0.8"/></g>'
        )
    for d, label in scale.ticks():
        x = scale.x(d)
        under.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6:.1f}" y2="{bottom:.1f}" class="grid"/>')
        under.append(_text(x, top - 10, label, "tick", "middle"))
    xa = scale.x(tl.as_of)
    over = [
        f'<line x1="{xa:.1f}" x2="{xa:.1f}" y1="{top - 6:.1f}" y2="{bottom:.1f}" class="today"/>',
        _text(xa - 4, bottom + 14, f"Evaluation date {tl.as_of}", "tick", "end"),
    ]
    height = bottom + 22
    return (
        f'<svg class="timeline" viewBox="0 0 {WIDTH:g} {height:.0f}" width="{WIDTH:g}" height="{height:.0f}"'
        f' id="{ident}" role="img" aria-labelledby="{ident}-title {ident}-desc"'
        ' xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">Depressive episodes, antidepressant trials, augmentation, ECT,'
        " blood pressure and PHQ-9 over time. The same data is in the tables below the charts.</desc>"
        + "".join(under)
        + "".join(body)
        + "".join(over)
        + "</svg>"
    )
