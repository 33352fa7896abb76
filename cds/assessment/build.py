"""Fired rules + facts → the Assessment: the indication status, findings and product verdicts.

Verdict precedence per product (the most safety-relevant first):
contraindicated > not-indicated > insufficient-data > use-with-caution > appropriate.
An absolute finding always shows, even when the indication is not met; a product is never
`appropriate` while a blocking data gap or an unsettled indication applies to it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from typing import Any

from cds.assessment.dosing import choose_esketamine, esketamine_dosing, ketamine_iv_dosing
from cds.contract.assessment import (
    PRODUCTS,
    Assessment,
    Citation,
    Finding,
    Indication,
    IndicationRule,
    PatientSummary,
    Product,
    RulesetInfo,
    Verdict,
)
from cds.engine import Firing
from cds.facts.build import FactSet, to_adjunct, to_trial
from cds.knowledge import Knowledge
from cds.ruleset.schema import DosingSpec, Lookup

_TEMPLATE = re.compile(r"\{([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\}")
# {settings.lookback.blood_pressure_days}: a threshold stated in a card comes from its setting.
_SETTING = re.compile(r"\{settings\.([a-z_][a-z0-9_.]*)\}")
_SEVERITY_ORDER = {"absolute": 0, "relative": 1, "info": 2}
_CATEGORY_ORDER = {
    "contraindication": 0,
    "data-gap": 1,
    "precaution": 2,
    "interaction": 3,
    "dosing": 4,
    "monitoring": 5,
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# A rule text with its settings filled in, cut at its {fact.field} places: literal text, or the place.
_Compiled = tuple[str | tuple[str, str], ...]
_COMPILED: dict[tuple[int, str], tuple[Lookup, _Compiled]] = {}
_COMPILED_MAX = 4096  # distinct rule texts (a ruleset has a few hundred); then start afresh


def _compiled(text: str, settings: Lookup) -> _Compiled:
    """The text's settings are the knowledge's (immutable): filled in once per text, not per patient.
    Keyed by the settings object, kept in the entry so that its id cannot be reused while cached."""
    key = (id(settings), text)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is settings:
        return hit[1]
    filled = _SETTING.sub(lambda m: _fmt(settings.lookup(m.group(1))), text)
    parts: list[str | tuple[str, str]] = []
    at = 0
    for m in _TEMPLATE.finditer(filled):
        parts += [filled[at : m.start()], (m.group(1), m.group(2))]
        at = m.end()
    parts.append(filled[at:])
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    compiled = _COMPILED[key] = (settings, tuple(parts))
    return compiled[1]


def render(text: str, views: dict[str, dict[str, Any]], settings: Lookup) -> str:
    out: list[str] = []
    for part in _compiled(text, settings):
        if isinstance(part, str):
            out.append(part)
        else:
            value = views.get(part[0], {}).get(part[1])
            out.append("unknown" if value is None else _fmt(value))
    return " ".join("".join(out).split())


SUMMARY_MAX = 139  # CDS Hooks: a card summary is under 140 characters


def render_summary(text: str, views: dict[str, dict[str, Any]], settings: Lookup) -> str:
    """The summary within SUMMARY_MAX, never cut mid-phrase: when too long, the longest inserted
    value (a chart's term) is shortened at a word boundary with an ellipsis, so the rule's own
    words (e.g. "contraindicated") always stay (issue 13 item 12)."""
    out = render(text, views, settings)
    trimmed = {name: dict(view) for name, view in views.items()}
    while len(out) > SUMMARY_MAX:
        used = [
            (len(_fmt(trimmed[m.group(1)][m.group(2)])), m.group(1), m.group(2))
            for m in _TEMPLATE.finditer(text)
            if trimmed.get(m.group(1), {}).get(m.group(2)) is not None
        ]
        if not used:
            break
        length, fact, field = max(used)
        if length <= 12:
            break
        keep = max(12, length - (len(out) - SUMMARY_MAX) - 1)
        value = _fmt(trimmed[fact][field])
        cut = value[:keep].rsplit(" ", 1)[0] if " " in value[:keep] else value[:keep]
        trimmed[fact][field] = cut.rstrip(" ,;:(") + "…"
        out = render(text, trimmed, settings)
    return out if len(out) <= SUMMARY_MAX else out[: SUMMARY_MAX - 1].rsplit(" ", 1)[0] + "…"


def build_assessment(facts: FactSet, firings: list[Firing], knowledge: Knowledge, profile: str) -> Assessment:
    ruleset = knowledge.ruleset
    by_rule: dict[str, list[Firing]] = defaultdict(list)
    for f in firings:
        by_rule[f.rule_id].append(f)
    findings: list[Finding] = []
    indication_hits: list[IndicationRule] = []
    exclusions: set[str] = set()
    dosing_specs: list[DosingSpec] = []
    spec_of: dict[str, DosingSpec] = {}
    for rule_id, hits in sorted(by_rule.items()):
        rule = ruleset.get(rule_id)
        matched = [hit.facts for hit in hits]
        # the views the rule matched (the engine made them); a firing built elsewhere gets them here
        views = hits[0].views or {name: fact.engine_view(facts.as_of) for name, fact in matched[0].items()}
        evidence = sorted({ref for m in matched for fact in m.values() for ref in fact.evidence})
        citation = _citation(rule.citation.label, rule.citation.url)
        if rule.then.indication:
            spec = rule.then.indication
            if spec.exclusion:
                exclusions.add(rule_id)
            indication_hits.append(
                IndicationRule(
                    rule=rule.id,
                    rule_version=rule.version,
                    status=spec.status,
                    pathway=spec.pathway,
                    reason=render(spec.reason, views, knowledge.settings),
                    evidence=evidence,
                    citation=citation,
                )
            )
            continue
        assert rule.then.finding is not None
        spec_f = rule.then.finding
        findings.append(
            Finding(
                rule=rule.id,
                rule_version=rule.version,
                category=spec_f.category,
                severity=spec_f.severity,
                concept=spec_f.concept,
                applies_to=list(spec_f.applies_to),
                summary=render_summary(spec_f.summary, views, knowledge.settings),
                detail=render(spec_f.detail, views, knowledge.settings) + _more(len(matched)),
                evidence=evidence if spec_f.category != "data-gap" else [],
                citation=citation,
                obtain=render(spec_f.obtain, views, knowledge.settings) if spec_f.obtain else None,
                blocks=spec_f.blocks,
            )
        )
        if rule.then.dosing:
            dosing_specs.append(rule.then.dosing)
            spec_of[rule.id] = rule.then.dosing
    indication = _indication(facts, indication_hits, exclusions)
    findings = _one_dosing_answer(findings, spec_of, dosing_specs, indication)
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f.severity], _CATEGORY_ORDER[f.category], f.rule))
    products = [_product(p, indication, findings, dosing_specs, facts) for p in PRODUCTS]
    return Assessment(
        patient=PatientSummary(
            id=facts.patient.evidence[0], age=facts.patient.age_years, sex=facts.patient.sex
        ),
        as_of=facts.as_of,
        profile=profile,
        ruleset=RulesetInfo(version=knowledge.version, hash=knowledge.hash),
        indication=indication,
        products=products,
        findings=findings,
    )


@lru_cache(maxsize=1024)  # a rule's citation is the knowledge's: one (frozen) model, not one per patient
def _citation(label: str, url: str) -> Citation:
    return Citation(label=label, url=url)


def _one_dosing_answer(
    findings: list[Finding], spec_of: dict[str, DosingSpec], specs: list[DosingSpec], indication: Indication
) -> list[Finding]:
    """One esketamine dosing card per chart: the regimen the dosing answer uses. Another start dose
    beside it (56 mg next to the EU 28 mg, 84 mg next to a TRD regimen) would contradict it; none
    when the indication is not met."""
    chosen = None if indication.status == "not-eligible" else choose_esketamine(specs, indication.pathway)[0]
    return [
        f
        for f in findings
        if f.rule not in spec_of or spec_of[f.rule].product != "esketamine" or spec_of[f.rule] is chosen
    ]


def _more(n: int) -> str:
    return f" ({n} matching records.)" if n > 1 else ""


def _indication(facts: FactSet, hits: list[IndicationRule], exclusions: set[str]) -> Indication:
    excluded = [h for h in hits if h.rule in exclusions]
    eligible = [h for h in hits if h.status == "eligible" and h.rule not in exclusions]
    insufficient = [h for h in hits if h.status == "insufficient-data"]
    not_met = [h for h in hits if h.status == "not-eligible" and h.rule not in exclusions]
    if excluded:
        status, deciding = "not-eligible", excluded
    elif eligible:
        # TRD first: its dosing is the label's standard regimen.
        eligible.sort(key=lambda h: 0 if h.pathway == "trd" else 1)
        status, deciding = "eligible", eligible
    elif insufficient:
        status, deciding = "insufficient-data", insufficient
    else:
        status, deciding = "not-eligible", not_met
    reasons = [h.reason for h in deciding] or ["No indication rule applies to this record."]
    others = [h.reason for h in hits if h not in deciding]
    missing = []
    if status == "insufficient-data":
        for t in facts.trials:
            if t.counts_as_failed is None and t.missing:
                start = t.start.isoformat() if t.start else "undated"
                missing.append(f"{t.drug} ({start}): {t.missing}")
    return Indication(
        status=status,
        pathway=deciding[0].pathway if status == "eligible" else None,
        adequate_failed_trials=facts.history.adequate_failed_trials,
        trials=[to_trial(t) for t in facts.trials],
        reasons=reasons + [f"Also: {r}" for r in others if r not in reasons],
        episode_start=facts.depression.episode_start,
        adjuncts=[to_adjunct(a) for a in facts.adjuncts],
        missing=missing,
        rules=hits,
    )


def _product(
    name: str, indication: Indication, findings: list[Finding], specs: list[DosingSpec], facts: FactSet
) -> Product:
    mine = [f for f in findings if name in f.applies_to]
    absolute = [f for f in mine if f.severity == "absolute" and f.category != "data-gap"]
    gaps = [f for f in mine if f.category == "data-gap" and f.blocks]
    cautions = [f for f in mine if f.severity == "relative"]
    verdict: Verdict
    if absolute:
        verdict, reasons = "contraindicated", [f.summary for f in absolute]
    elif indication.status == "not-eligible":
        verdict, reasons = "not-indicated", indication.reasons[:1]
    elif indication.status == "insufficient-data" or gaps:
        verdict = "insufficient-data"
        reasons = ([indication.reasons[0]] if indication.status == "insufficient-data" else []) + [
            f"{f.summary}: {f.obtain}" for f in gaps
        ]
    elif cautions:
        verdict, reasons = "use-with-caution", [f.summary for f in cautions]
    else:
        verdict, reasons = (
            "appropriate",
            [
                "Indication met; no contraindication, precaution or data gap found in the coded record "
                "(conditions, medications, allergies, observations); free-text notes are not read."
            ],
        )
    dosing = None
    if verdict != "not-indicated":
        dosing = (
            esketamine_dosing(specs, indication.pathway)
            if name == "esketamine"
            else ketamine_iv_dosing(specs, facts)
        )
    return Product(product=name, verdict=verdict, dosing=dosing, reasons=reasons)
