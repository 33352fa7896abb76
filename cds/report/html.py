"""The clinician's HTML report of one assessment: one self-contained page.

No scripts, fonts, images or styles are fetched: the page must work in an EHR's embedded
browser with no network, and its Content-Security-Policy forbids any load, so even a
string that escaped escaping could not run or call out. Every string from the assessment
or timeline goes through `escape` (the `_e` helper) before it reaches the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from html import escape

from cds.contract.assessment import (
    Assessment,
    Citation,
    EsketamineDosing,
    Finding,
    KetamineIvDosing,
    Product,
    Trial,
)
from cds.contract.timeline import Timeline
from cds.report.calendar import HORIZON_WEEKS, Calendar, build_calendar
from cds.report.style import CSS
from cds.report.timeline_svg import (
    ADEQUACY,
    OUTCOME_STROKE,
    OUTCOMES,
    PATTERN_DEFS,
    render_timeline_svg,
    yes_no,
)

VERDICT_TEXT = {
    "appropriate": "Appropriate",
    "use-with-caution": "Use with caution",
    "contraindicated": "Contraindicated",
    "not-indicated": "Not indicated",
    "insufficient-data": "Insufficient data",
}
PRODUCT_TEXT = {"esketamine": "Esketamine nasal spray", "ketamine-iv": "Ketamine IV infusion (off-label)"}
PROFILE_TEXT = {"us-fda": "US (FDA label)", "eu-smpc": "EU (SmPC)"}
INDICATION_TEXT = {
    "eligible": "Eligible",
    "not-eligible": "Not eligible",
    "insufficient-data": "Insufficient data",
}
PATHWAY_TEXT = {
    "trd": "treatment-resistant depression",
    "suicidal-ideation": "depression with suicidal ideation",
}
SEVERITY_GROUPS = (
    ("absolute", "Absolute: do not start without specialist review"),
    ("relative", "Relative: proceed with caution"),
    ("info", "Information"),
)
CATEGORY_ORDER = ("contraindication", "interaction", "precaution", "monitoring", "dosing", "data-gap")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# default-src 'none': no script, font, image, frame or connection of any kind; the one
# stylesheet is inline.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _product_name(name: str) -> str:
    return PRODUCT_TEXT.get(name, name)


def _short_date(d: date) -> str:
    # Fixed English names: strftime would follow the server's locale.
    return f"{_DAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]}"


def _link(c: Citation) -> str:
    """A citation as a link, but only for http(s): a `javascript:` or `data:` URL stays text."""
    if c.url.lower().startswith(("https://", "http://")):
        return f'<a href="{_e(c.url)}" rel="noopener noreferrer">{_e(c.label)}</a>'
    return f'{_e(c.label)} <span class="muted">({_e(c.url)})</span>' if c.url else _e(c.label)


def _refs(refs: Sequence[str]) -> str:
    if not refs:
        return '<span class="muted">none</span>'
    return '<ul class="refs">' + "".join(f"<li><code>{_e(r)}</code></li>" for r in refs) + "</ul>"


def _list(items: Iterable[str]) -> str:
    rows = "".join(f"<li>{_e(i)}</li>" for i in items)
    return f"<ul>{rows}</ul>" if rows else ""


def _header(a: Assessment) -> str:
    age = f"{a.patient.age} years" if a.patient.age is not None else "age unknown"
    facts = [
        ("Patient", f"<code>{_e(a.patient.id)}</code>"),
        ("Age and sex", f"{_e(age)}, {_e(a.patient.sex)}"),
        ("Evaluated", f'<time datetime="{a.as_of}">{a.as_of}</time>'),
        ("Profile", _e(PROFILE_TEXT.get(a.profile, a.profile))),
        ("Ruleset", _e(a.ruleset.stamp)),
    ]
    dl = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    cards = "".join(_verdict_card(p) for p in a.products)
    return (
        "<header><h1>Ketamine and esketamine assessment</h1>"
        f'<dl class="facts">{dl}</dl></header>'
        f'<section aria-labelledby="kc-verdicts"><h2 id="kc-verdicts">Verdicts</h2>'
        f'<div class="verdicts">{cards}</div></section>'
    )


def _verdict_card(p: Product) -> str:
    word = VERDICT_TEXT.get(p.verdict, p.verdict)
    return (
        f'<article class="verdict v-{_e(p.verdict)}" data-product="{_e(p.product)}">'
        f"<h3>{_e(_product_name(p.product))}</h3>"
        f'<p class="word-line"><span class="word">{_e(word)}</span></p>{_list(p.reasons)}</article>'
    )


def _indication(a: Assessment) -> str:
    ind = a.indication
    status = INDICATION_TEXT.get(ind.status, ind.status)
    pathway = f" ({_e(PATHWAY_TEXT.get(ind.pathway, ind.pathway))} pathway)" if ind.pathway else ""
    episode = f"; current episode since {ind.episode_start}" if ind.episode_start else ""
    counted = (
        f"<p>{ind.adequate_failed_trials} adequate antidepressant trial"
        f"{'s' if ind.adequate_failed_trials != 1 else ''} failed in the current episode{episode}.</p>"
    )
    rules = "".join(
        f'<li>{_e(r.reason)} <span class="muted">(rule <code>{_e(r.rule)}</code> {_e(r.rule_version)}; '
        f"source: {_link(r.citation)})</span></li>"
        for r in ind.rules
    )
    return (
        '<section aria-labelledby="kc-indication"><h2 id="kc-indication">Indication</h2>'
        f'<p><strong data-indication="{_e(ind.status)}">{_e(status)}</strong>{pathway}</p>{counted}'
        f"{_list(ind.reasons)}"
        + (f"<h3>Rules behind the indication</h3><ul>{rules}</ul>" if rules else "")
        + "</section>"
    )


def _finding(f: Finding, cls: str, level: int) -> str:
    products = ", ".join(_product_name(p) for p in f.applies_to)
    obtain = f'<p class="obtain">Obtain: {_e(f.obtain)}</p>' if f.obtain else ""
    blocks = (
        f'<p class="muted">Blocks clearance of: {_e(products)}</p>'
        if f.category == "data-gap" and f.blocks
        else ""
    )
    return (
        f'<article class="finding {cls}" data-concept="{_e(f.concept)}" data-severity="{_e(f.severity)}"'
        f' data-category="{_e(f.category)}">'
        f"<h{level}>{_e(f.summary)}</h{level}>"
        f'<p class="meta">{_e(f.category)} · {_e(f.severity)} · applies to {_e(products)} · '
        f"rule <code>{_e(f.rule)}</code> {_e(f.rule_version)}</p>"
        f"{obtain}{blocks}<p>{_e(f.detail)}</p>"
        # div, not p: a list inside a paragraph is invalid HTML and splits it in two.
        f'<div class="line">Evidence: {_refs(f.evidence)}</div>'
        f'<div class="line">Source: {_link(f.citation)}</div>'
        "</article>"
    )


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    return sorted(findings, key=lambda f: (order.get(f.category, len(order)), f.concept, f.rule))


def _data_gaps(a: Assessment) -> str:
    gaps = _sorted(f for f in a.findings if f.category == "data-gap")
    body = "".join(_finding(f, "gap", 3) for f in gaps)
    missing = a.indication.missing
    if missing:
        body += "<h3>To settle the indication</h3>" + _list(missing)
    if not body:
        body = "<p>No data gaps: every fact the rules need was found and is recent enough.</p>"
    return (
        f'<section aria-labelledby="kc-gaps"><h2 id="kc-gaps">Data gaps: what to obtain</h2>{body}</section>'
    )


def _findings(a: Assessment) -> str:
    others = [f for f in a.findings if f.category != "data-gap"]
    parts: list[str] = []
    for severity, heading in SEVERITY_GROUPS:
        group = _sorted(f for f in others if f.severity == severity)
        if group:
            parts.append(f"<h3>{_e(heading)} ({len(group)})</h3>")
            parts += [_finding(f, f"sev-{severity}", 4) for f in group]
    body = "".join(parts) or "<p>No contraindications, precautions, interactions or monitoring findings.</p>"
    return f'<section aria-labelledby="kc-findings"><h2 id="kc-findings">Findings</h2>{body}</section>'


def _swatch(fill: str, stroke: str, dash: str | None) -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        '<svg width="34" height="16" viewBox="0 0 34 16" aria-hidden="true">'
        f'<rect x="1" y="1" width="32" height="14" rx="2" fill="{fill}" stroke="{stroke}"'
        f' stroke-width="1.6"{d}/></svg>'
    )


def _legend() -> str:
    items = [
        f"<li>{_swatch(fill, OUTCOME_STROKE[o], None)}{_e(text)}</li>" for o, (text, fill) in OUTCOMES.items()
    ]
    items += [f"<li>{_swatch('#FFFFFF', '#1A1A1A', dash)}{_e(text)}</li>" for text, dash in ADEQUACY.values()]
    items.append(f"<li>{_swatch('url(#kc-pat-window)', '#B59B2A', None)}Look-back window</li>")
    items.append("<li>Arrow: still running, or end not recorded</li>")
    return f'<ul class="legend" aria-label="Legend">{"".join(items)}</ul>'


def _trial_row(t: Trial) -> str:
    dose = f"{t.daily_dose_mg:g} mg" if t.daily_dose_mg is not None else "unknown"
    minimum = f" (min {t.minimum_daily_dose_mg:g} mg)" if t.minimum_daily_dose_mg is not None else ""
    weeks = f"{t.weeks:g}" if t.weeks is not None else "unknown"
    cells = [
        _e(t.drug),
        _e(dose + minimum),
        _e(t.start or "not recorded"),
        _e(t.end or ("ongoing" if t.outcome == "ongoing" else "not recorded")),
        _e(weeks),
        _e(yes_no(t.in_current_episode)),
        _e(yes_no(t.adequate_dose)),
        _e(yes_no(t.adequate_duration)),
        _e(t.outcome),
        _e(yes_no(t.counts_as_failed)),
        _refs(t.evidence),
        _e(t.note or ""),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _head(*columns: str) -> str:
    return "<tr>" + "".join(f'<th scope="col">{_e(c)}</th>' for c in columns) + "</tr>"


def _rows_or(rows: str, columns: int, empty: str) -> str:
    return rows or f'<tr><td colspan="{columns}">{empty}</td></tr>'


def _charts(tl: Timeline) -> str:
    """The whole history, and the current episode on its own axis when the history is long.

    Over years of history the current episode's trials shrink to slivers whose labels cannot
    show; the second chart gives them the width that a decision about them deserves.
    """
    whole = render_timeline_svg(tl, "kc-tl-all", "Treatment timeline: whole history")
    current = next((ep.start for ep in tl.episodes if ep.current and ep.start), None)
    dated = [d for t in tl.trials for d in (t.start, t.end) if d] + [
        ep.start for ep in tl.episodes if ep.start
    ]
    if current is None or not dated or (current - min(dated)).days < 365:
        return f'<div class="chart">{whole}</div>'
    since = current - timedelta(days=30)
    zoom = render_timeline_svg(tl, "kc-tl-current", "Treatment timeline: current episode", since)
    return (
        f'<h3>Whole history</h3><div class="chart">{whole}</div>'
        f'<h3>Current episode (since {current})</h3><div class="chart">{zoom}</div>'
    )


def _timeline(tl: Timeline) -> str:
    trials = sorted(tl.trials, key=lambda t: (t.start is None, t.start or date.min, t.drug))
    undated = sum(1 for t in trials if t.start is None)
    head = _head(
        "Trial", "Daily dose", "Start", "End", "Weeks (current episode)", "Current episode", "Adequate dose",
        "Adequate duration", "Outcome", "Counts toward TRD", "Evidence", "Note",
    )  # fmt: skip
    trial_rows = _rows_or("".join(_trial_row(t) for t in trials), 12, "No trial recorded.")
    adjunct_rows = "".join(
        f"<tr><td>{'Augmentation' if a.kind == 'augmentation' else 'ECT'}</td><td>{_e(a.name)}</td>"
        f"<td>{_e(a.start or 'not recorded')}</td><td>{_e(a.end or 'not recorded')}</td>"
        f"<td>{_refs(a.evidence)}</td></tr>"
        for a in tl.adjuncts
    )
    episode_rows = "".join(
        f"<tr><td>{'Current' if ep.current else 'Previous'}</td><td>{_e(ep.start or 'not recorded')}</td>"
        f"<td>{_e(ep.end or 'ongoing')}</td><td>{_refs(ep.evidence)}</td></tr>"
        for ep in tl.episodes
    )
    readings = sorted(
        [
            (p.date, "Blood pressure", f"{_num(p.systolic)}/{_num(p.diastolic)} mmHg", p.ref)
            for p in tl.blood_pressure
        ]
        + [(p.date, "PHQ-9", f"{p.value:g}", p.ref) for p in tl.phq9]
        + [(p.date, "Weight", f"{p.value:g} kg", p.ref) for p in tl.weight_kg],
        key=lambda r: (r[0], r[1]),
        reverse=True,
    )
    reading_rows = "".join(
        f"<tr><td>{d}</td><td>{_e(kind)}</td><td>{_e(value)}</td><td><code>{_e(ref)}</code></td></tr>"
        for d, kind, value, ref in readings
    )
    windows = _list(f"{w.name}: {w.start} to {w.end}" for w in tl.windows)
    undated_note = (
        f'<p class="muted">{undated} trial{"s" if undated != 1 else ""} without a start date '
        "cannot be drawn and appear in the table only.</p>"
        if undated
        else ""
    )
    return (
        '<section aria-labelledby="kc-timeline"><h2 id="kc-timeline">Treatment timeline</h2>'
        f"{_charts(tl)}{_legend()}{undated_note}"
        + (f"<p>Shaded look-back windows:</p>{windows}" if windows else "")
        + "<h3>Antidepressant trials</h3>"
        f'<table class="trials"><caption>Every antidepressant trial, as drawn in the timeline</caption>'
        f"<thead>{head}</thead><tbody>{trial_rows}</tbody></table>"
        "<h3>Episodes, augmentation and ECT</h3>"
        f"<table><caption>Depressive episodes</caption><thead>{_head('Episode', 'Start', 'End', 'Evidence')}"
        f"</thead><tbody>{_rows_or(episode_rows, 4, 'No episode recorded.')}</tbody></table>"
        f"<table><caption>Augmentation and ECT</caption><thead>"
        f"{_head('Kind', 'Treatment', 'Start', 'End', 'Evidence')}</thead>"
        f"<tbody>{_rows_or(adjunct_rows, 5, 'None recorded.')}</tbody></table>"
        "<h3>Measurements</h3>"
        "<table><caption>Blood pressure, PHQ-9 and weight, newest first</caption>"
        f"<thead>{_head('Date', 'Measurement', 'Value', 'Source')}</thead>"
        f"<tbody>{_rows_or(reading_rows, 4, 'None recorded.')}</tbody></table>"
        "</section>"
    )


def _calendar_table(product: str, cal: Calendar, start: date) -> str:
    head = _head("Week", "Phase", *(f"Day {i}" for i in range(1, 8)))
    rows: list[str] = []
    for wk in cal.weeks:
        by_day = {s.day: s for s in wk.sessions}
        phase = _e(f"{wk.phase}, {wk.frequency}") if wk.phase else "no session scheduled"
        if not wk.dated:
            phase += (
                ' <span class="muted">(dates not computed: frequency needs the clinician\'s choice)</span>'
            )
        cells = []
        for offset in range(7):
            day = wk.start + timedelta(days=offset)
            s = by_day.get(day)
            label = f'<span class="date">{_short_date(day)}</span>'
            if s:
                cells.append(
                    f'<td class="session" data-date="{day}">{label}Session {s.number}: {_e(s.dose)}</td>'
                )
            else:
                cells.append(f"<td>{label}</td>")
        rows.append(f'<tr><th scope="row">Week {wk.week}</th><td>{phase}</td>{"".join(cells)}</tr>')
    later = _list(
        f"Weeks {s.weeks}: {s.phase}, {s.frequency}"
        + (f", {' or '.join(f'{d:g}' for d in s.dose_mg)} mg" if s.dose_mg else "")
        for s in cal.later
    )
    return (
        f'<table class="calendar" data-product="{_e(product)}"><caption>{_e(_product_name(product))}: '
        f"weeks 1 to {HORIZON_WEEKS} if started on the evaluation date ({start})</caption>"
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
        + (f"<p>After week {HORIZON_WEEKS} (not dated here):</p>{later}" if later else "")
    )


def _no_calendar_reason(a: Assessment, p: Product) -> str:
    name = _product_name(p.product)
    if p.verdict == "contraindicated":
        return f"No calendar: {name} is contraindicated for this patient (see Findings)."
    if p.verdict == "not-indicated":
        return f"No calendar: the indication is not met, so no {name} dosing is proposed."
    gaps = [f for f in a.findings if f.category == "data-gap" and p.product in f.applies_to]
    why = "; ".join(f.summary + (f" (obtain: {f.obtain})" if f.obtain else "") for f in gaps)
    why = why or "; ".join(p.reasons) or "the assessment gives no dosing for this product"
    return f"No calendar: dosing could not be computed: {why}."


def _dosing_summary(d: EsketamineDosing | KetamineIvDosing) -> str:
    if isinstance(d, EsketamineDosing):
        text = (
            f"Start dose {d.start_dose_mg:g} mg on day 1"
            + (f"; regimen: {d.regimen}" if d.regimen else "")
            + "."
        )
    else:
        text = (
            f"{d.dose_mg:g} mg per infusion ({d.dose_mg_per_kg:g} mg/kg × {d.weight_kg:g} kg, "
            f"{d.weight_basis} body weight) over {d.infusion_minutes} minutes."
        )
    alternatives = d.alternatives if isinstance(d, KetamineIvDosing) else []
    alt = _list(", ".join(f"{k}: {v}" for k, v in option.items()) for option in alternatives)
    return f"<p>{_e(text)}</p>{_list(d.notes)}" + (f"<p>Alternatives:</p>{alt}" if alt else "")


def _dosing(a: Assessment) -> str:
    parts: list[str] = []
    for p in a.products:
        parts.append(f"<h3>{_e(_product_name(p.product))}</h3>")
        if p.dosing is None or p.verdict in ("contraindicated", "not-indicated"):
            # A printed calendar for a product that must not be started could be taken for a plan.
            parts.append(
                f'<p class="no-calendar" data-product="{_e(p.product)}">{_e(_no_calendar_reason(a, p))}</p>'
            )
            continue
        if p.verdict == "insufficient-data":
            parts.append(
                '<p class="obtain">Provisional: the verdict is “Insufficient data”; obtain what the '
                "data gaps list before booking sessions.</p>"
            )
        parts.append(_dosing_summary(p.dosing))
        parts.append(_calendar_table(p.product, build_calendar(p.dosing, a.as_of), a.as_of))
    return (
        '<section aria-labelledby="kc-dosing">'
        f'<h2 id="kc-dosing">Dosing plan: first {HORIZON_WEEKS} weeks</h2>' + "".join(parts) + "</section>"
    )


def render_html(assessment: Assessment, timeline: Timeline) -> str:
    """The report of one assessment as one self-contained HTML page (UTF-8 text)."""
    a = assessment
    title = f"Ketamine and esketamine assessment: {a.patient.id}, {a.as_of}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{PATTERN_DEFS}<main>"
        + _header(a)
        + _indication(a)
        + _data_gaps(a)
        + _findings(a)
        + _timeline(timeline)
        + _dosing(a)
        + "<footer><p>Decision support generated by ketamine-cds from the record as of "
        f"{a.as_of} (ruleset {_e(a.ruleset.stamp)}). It does not replace clinical judgement "
        "or the product labelling.</p></footer></main></body></html>\n"
    )
