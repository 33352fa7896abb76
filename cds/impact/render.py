"""The impact report as terminal text, CSV (one row per changed patient), JSON, and one
self-contained HTML page (no scripts, fonts or network; charts are inline SVG)."""

from __future__ import annotations

import csv
import html
from collections import Counter, defaultdict
from typing import IO

import orjson

from cds.impact.model import INDICATORS, ImpactReport, PatientImpact

SHOWN = 10  # changed patients listed on the terminal


def _delta(before: int | float, after: int | float) -> str:
    d = after - before
    if not d:
        return f"{before:g}"
    return f"{before:g} → {after:g} ({'+' if d > 0 else '−'}{abs(d):g})"


def _counts(before: dict[str, int], after: dict[str, int]) -> str:
    keys = sorted(before.keys() | after.keys(), key=lambda k: (-max(before.get(k, 0), after.get(k, 0)), k))
    return ", ".join(f"{k} {_delta(before.get(k, 0), after.get(k, 0))}" for k in keys)


def eligibility_changes(report: ImpactReport) -> dict[str, list[PatientImpact]]:
    """Patients who became eligible, by the indication rule that newly fired for them."""
    out: dict[str, list[PatientImpact]] = defaultdict(list)
    for p in report.became_eligible:
        rules = [r for r in p.newly_fired if r.startswith("indication.")] or ["(no indication rule changed)"]
        for r in rules:
            out[r].append(p)
    return dict(out)


def _patient_line(p: PatientImpact) -> str:
    parts = [f"{p.patient}" + (f" [{p.archetype}]" if p.archetype else "")]
    for name, a, b in (
        ("indication", p.before.indication, p.after.indication),
        ("esketamine", p.before.esketamine, p.after.esketamine),
        ("ketamine-iv", p.before.ketamine_iv, p.after.ketamine_iv),
    ):
        if a != b:
            parts.append(f"{name} {a} → {b}")
    if p.newly_fired:
        parts.append("fires " + ", ".join(p.newly_fired))
    if p.stopped_firing:
        parts.append("stops " + ", ".join(p.stopped_firing))
    if p.before.error != p.after.error:
        parts.append(f"error {p.before.error or '-'} → {p.after.error or '-'}")
    return "; ".join(parts)


def text(report: ImpactReport) -> list[str]:
    r = report
    out = [
        f"Impact on {r.patients} patients ({r.profile}, as of {r.as_of}): "
        f"{r.base.label} ({r.base.stamp}) → {r.changed.label} ({r.changed.stamp})",
    ]
    k = r.knowledge
    if not (k.settings or k.rules or k.files):
        out.append("knowledge: no difference in settings, rules or knowledge files")
    for s in k.settings:
        out.append(f"setting {s.setting}: {s.before} → {s.after}")
    for c in k.rules:
        bump = " (VERSION NOT BUMPED)" if c.unbumped else ""
        out.append(
            f"rule {c.rule} {c.change}: {c.version_before or '-'} → {c.version_after or '-'}{bump}  {c.file}"
        )
    for f in k.files:
        out.append(f"file {f} differs")
    if (k.settings or k.rules or k.files) and r.base.version == r.changed.version:
        out.append(f"ruleset_version {r.base.version} is unchanged: bump it when the committee releases this")
    out += [
        f"indication: {_counts(r.indication_before, r.indication_after)}",
        f"esketamine: {_counts(r.esketamine_before, r.esketamine_after)}",
        f"ketamine-iv: {_counts(r.ketamine_iv_before, r.ketamine_iv_after)}",
        "alert burden (cards per 1,000 patients): "
        + ", ".join(f"{i} {_delta(r.burden_before.get(i), r.burden_after.get(i))}" for i in INDICATORS),
    ]
    if r.rules:
        out.append("rules whose firing changes (patients):")
        width = max(len(x.rule) for x in r.rules)
        for x in r.rules:
            out.append(
                f"  {x.rule:<{width}}  +{x.newly_fire} newly fire, −{x.stop_firing} stop firing"
                f"  (fired for {_delta(x.fired_before, x.fired_after)})"
            )
    else:
        out.append("no rule fires for a different set of patients")
    for rule, patients in eligibility_changes(r).items():
        archetypes = Counter(p.archetype for p in patients if p.archetype)
        tail = (
            f"; by archetype: {', '.join(f'{a} {n}' for a, n in archetypes.most_common())}"
            if archetypes
            else ""
        )
        out.append(f"became eligible through {rule}: {len(patients)} patients{tail}")
    if r.no_longer_eligible:
        out.append(f"no longer eligible: {len(r.no_longer_eligible)} patients")
    out.append(
        f"{len(r.changed_patients)} patients changed, {r.unchanged_patients} unchanged, {r.errors} with errors"
    )
    if r.unattributed:
        out.append(
            f"WARNING: {len(r.unattributed)} input lines belong to no patient, e.g. {r.unattributed[0]}"
        )
    for p in r.changed_patients[:SHOWN]:
        out.append("  " + _patient_line(p))
    if len(r.changed_patients) > SHOWN:
        out.append(f"  ... and {len(r.changed_patients) - SHOWN} more (see --csv, --json or --html)")
    return out


CSV_COLUMNS = (
    "patient",
    "archetype",
    "indication_before",
    "indication_after",
    "esketamine_before",
    "esketamine_after",
    "ketamine_iv_before",
    "ketamine_iv_after",
    "rules_newly_fired",
    "rules_stopped_firing",
    "findings_added",
    "findings_removed",
    "cards_before",
    "cards_after",
    "error_before",
    "error_after",
)


def write_csv(report: ImpactReport, out: IO[str]) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for p in report.changed_patients:
        before, after = set(p.before.findings), set(p.after.findings)
        w.writerow(
            [
                p.patient,
                p.archetype or "",
                p.before.indication or "",
                p.after.indication or "",
                p.before.esketamine or "",
                p.after.esketamine or "",
                p.before.ketamine_iv or "",
                p.after.ketamine_iv or "",
                ";".join(p.newly_fired),
                ";".join(p.stopped_firing),
                ";".join(sorted(str(f) for f in after - before)),
                ";".join(sorted(str(f) for f in before - after)),
                ";".join(f"{c}:{i}" for c, i in p.before.cards.items()),
                ";".join(f"{c}:{i}" for c, i in p.after.cards.items()),
                p.before.error or "",
                p.after.error or "",
            ]
        )


def to_json(report: ImpactReport) -> bytes:
    return orjson.dumps(report.model_dump(mode="json"), option=orjson.OPT_INDENT_2)


# --- HTML ---------------------------------------------------------------------------------------

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",Arial,sans-serif;
margin:0;color:#1A1A1A}main{max-width:1100px;margin:0 auto;padding:16px 24px 40px}
h1{font-size:1.5rem;margin:0 0 4px}h2{font-size:1.2rem;margin:28px 0 8px;padding-bottom:4px;border-bottom:2px solid #D0D0D0}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #C8C8C8;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#F2F2F2}td.n{text-align:right;font-variant-numeric:tabular-nums}.warn{color:#8A1C00;font-weight:600}
code{font:0.88em ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;background:#F2F2F2;padding:0 3px}
.charts{display:flex;flex-wrap:wrap;gap:24px}figure{margin:0}figcaption{font-weight:600;margin:4px 0}
@media print{main{padding:0}}
"""
_BEFORE, _AFTER = "#9A9A9A", "#0B4F9C"


def bar_chart(title: str, groups: list[tuple[str, float, float]], unit: str) -> str:
    """Paired horizontal bars (before above after) per group, values written at the bar ends; the
    before bar is also hatched, so the pairs read without colour. Each pair is scaled to its own
    larger value: info cards outnumber critical ones tenfold and would flatten them otherwise."""
    e = html.escape
    label_w, bar_w, row_h = 150, 360, 46
    hatch = "hatch-" + "".join(c for c in title.lower() if c.isalnum())
    height = 30 + row_h * len(groups)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{e(title)}" '
        f'width="{label_w + bar_w + 90}" height="{height}" font-size="12" font-family="system-ui,sans-serif">',
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="{_BEFORE}"/><line x1="0" y1="0" x2="0" y2="6" stroke="#FFF" stroke-width="2"/>'
        "</pattern></defs>",
        f'<rect x="{label_w}" y="4" width="12" height="10" fill="url(#{hatch})"/>'
        f'<text x="{label_w + 16}" y="13">before</text>'
        f'<rect x="{label_w + 70}" y="4" width="12" height="10" fill="{_AFTER}"/>'
        f'<text x="{label_w + 86}" y="13">after</text>',
    ]
    for n, (label, before, after) in enumerate(groups):
        y = 26 + n * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 20}" text-anchor="end">{e(label)}</text>')
        top = max(before, after) or 1.0
        for k, (value, fill) in enumerate(((before, f"url(#{hatch})"), (after, _AFTER))):
            w = bar_w * value / top
            yy = y + k * 18
            parts.append(f'<rect x="{label_w}" y="{yy}" width="{w:.1f}" height="15" fill="{fill}"/>')
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{yy + 12}">{value:g}</text>')
    parts.append("</svg>")
    caption = f"{e(title)} ({e(unit)}; each pair to its own scale)"
    return f"<figure><figcaption>{caption}</figcaption>{''.join(parts)}</figure>"


def _table(head: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    e = html.escape
    numeric = numeric or set()
    h = "".join(f"<th>{e(c)}</th>" for c in head)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{e(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{h}</tr>{body or f'<tr><td colspan={len(head)}>none</td></tr>'}</table>"


def render_html(report: ImpactReport) -> str:
    e = html.escape
    r = report
    statuses = ("eligible", "not-eligible", "insufficient-data")
    charts = bar_chart(
        "Alert burden",
        [(i, r.burden_before.get(i), r.burden_after.get(i)) for i in INDICATORS],
        "cards per 1,000 patients",
    ) + bar_chart(
        "Indication",
        [(s, r.indication_before.get(s, 0), r.indication_after.get(s, 0)) for s in statuses],
        "patients",
    )
    k = r.knowledge
    change_rows = [[f"setting {s.setting}", s.before or "-", s.after or "-", ""] for s in k.settings]
    change_rows += [
        [
            f"rule {c.rule} ({c.change})",
            c.version_before or "-",
            c.version_after or "-",
            "version not bumped" if c.unbumped else c.file,
        ]
        for c in k.rules
    ]
    change_rows += [[f"file {f}", "", "", "differs"] for f in k.files]
    verdict_rows = [
        [f"{name}: {v}", str(b.get(v, 0)), str(a.get(v, 0))]
        for name, b, a in (
            ("indication", r.indication_before, r.indication_after),
            ("esketamine", r.esketamine_before, r.esketamine_after),
            ("ketamine-iv", r.ketamine_iv_before, r.ketamine_iv_after),
        )
        for v in sorted(b.keys() | a.keys())
    ]
    rule_rows = [
        [x.rule, str(x.newly_fire), str(x.stop_firing), str(x.fired_before), str(x.fired_after)]
        for x in r.rules
    ]
    eligible = "".join(
        f"<p>Became eligible through <code>{e(rule)}</code>: {len(ps)} patients: "
        + e(", ".join(p.patient for p in ps[:200]))
        + (" ..." if len(ps) > 200 else "")
        + "</p>"
        for rule, ps in eligibility_changes(r).items()
    )
    patient_rows = [
        [
            p.patient,
            p.archetype or "",
            f"{p.before.indication} → {p.after.indication}",
            f"{p.before.esketamine} → {p.after.esketamine}",
            f"{p.before.ketamine_iv} → {p.after.ketamine_iv}",
            ", ".join(p.newly_fired),
            ", ".join(p.stopped_firing),
        ]
        for p in r.changed_patients
    ]
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<title>ketamine-cds impact analysis</title>"
        f"<style>{_STYLE}</style><main><h1>Impact of a knowledge change</h1>"
        f"<p>{r.patients} patients, profile {e(r.profile)}, as of {e(r.as_of)}. "
        f"Base <code>{e(r.base.label)}</code> ({e(r.base.stamp)}) → "
        f"<code>{e(r.changed.label)}</code> ({e(r.changed.stamp)}). "
        f"{len(r.changed_patients)} patients change, {r.unchanged_patients} do not"
        + (f", <span class=warn>{r.errors} records could not be assessed</span>" if r.errors else "")
        + (
            f", <span class=warn>{len(r.unattributed)} input lines belong to no patient"
            f" (e.g. {e(r.unattributed[0])})</span>"
            if r.unattributed
            else ""
        )
        + ".</p>"
        f"<div class=charts>{charts}</div>"
        "<h2>What changed in the knowledge</h2>"
        + _table(["what", "before", "after", "note"], change_rows)
        + "<h2>Rules whose firing changes</h2>"
        + _table(
            ["rule", "newly fire", "stop firing", "fired before", "fired after"], rule_rows, {1, 2, 3, 4}
        )
        + eligible
        + "<h2>Verdicts (patients)</h2>"
        + _table(["", "before", "after"], verdict_rows, {1, 2})
        + "<h2>Patients whose outcome changes</h2>"
        + _table(
            [
                "patient",
                "archetype",
                "indication",
                "esketamine",
                "ketamine-iv",
                "rules newly firing",
                "rules stopping",
            ],
            patient_rows,
        )
        + "</main></html>\n"
    )
