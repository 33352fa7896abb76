"""The assessment as text a clinician reads in ten seconds: verdicts first, then why."""

from __future__ import annotations

from cds.contract.assessment import Assessment, EsketamineDosing, KetamineIvDosing, Trial

_MARK = {True: "yes", False: "no", None: "?"}


def _trial_line(t: Trial) -> str:
    dose = f"{t.daily_dose_mg:g} mg/day" if t.daily_dose_mg is not None else "dose ?"
    minimum = f" (min {t.minimum_daily_dose_mg:g})" if t.minimum_daily_dose_mg is not None else ""
    weeks = f"{t.weeks:g} wk" if t.weeks is not None else "? wk"
    counts = {True: "COUNTS", False: "does not count", None: "cannot tell"}[t.counts_as_failed]
    span = f"{t.start or '?'} → {t.end or ('ongoing' if t.outcome == 'ongoing' else '?')}"
    line = (
        f"  - {t.drug:<15} {dose}{minimum}, {weeks}, {span}; episode {_MARK[t.in_current_episode]}, "
        f"dose ok {_MARK[t.adequate_dose]}, duration ok {_MARK[t.adequate_duration]}, {t.outcome}: {counts}"
    )
    return line + (f"\n      {t.note}" if t.note else "")


def render(a: Assessment) -> str:
    lines = [
        f"ketamine-cds assessment of {a.patient.id} ({a.patient.age}, {a.patient.sex}) as of {a.as_of}, "
        f"profile {a.profile}, ruleset {a.ruleset.stamp}",
        "",
    ]
    for p in a.products:
        lines.append(f"{p.product.upper():<12} {p.verdict.upper()}")
        for r in p.reasons[:3]:
            lines.append(f"    {r}")
        if isinstance(p.dosing, EsketamineDosing):
            lines.append(
                f"    start {p.dosing.start_dose_mg:g} mg ({p.dosing.regimen}); "
                + "; ".join(f"wk {s.weeks} {s.frequency}" for s in p.dosing.schedule)
            )
        elif isinstance(p.dosing, KetamineIvDosing):
            d = p.dosing
            lines.append(
                f"    {d.dose_mg:g} mg IV ({d.dose_mg_per_kg:g} mg/kg × {d.weight_kg:g} kg {d.weight_basis}) over "
                f"{d.infusion_minutes} min"
            )
            lines.extend(f"    note: {n}" for n in d.notes)
    ind = a.indication
    lines += [
        "",
        f"Indication: {ind.status}"
        + (f" ({ind.pathway})" if ind.pathway else "")
        + f", {ind.adequate_failed_trials} adequate failed trial(s)"
        + (f", current episode since {ind.episode_start}" if ind.episode_start else ""),
    ]
    lines += [f"  {r}" for r in ind.reasons]
    if ind.missing:
        lines.append("  To settle it, obtain:")
        lines += [f"    - {m}" for m in ind.missing]
    if ind.trials:
        lines.append("Antidepressant trials:")
        lines += [_trial_line(t) for t in ind.trials]
    for adj in ind.adjuncts:
        lines.append(f"  + {adj.kind}: {adj.name} ({adj.start or '?'}), shown, not counted")
    if a.findings:
        lines += ["", "Findings:"]
        for f in a.findings:
            lines.append(f"  [{f.severity}] {f.category}: {f.summary}")
            if f.obtain:
                lines.append(f"      obtain: {f.obtain}")
            if f.evidence:
                lines.append(
                    f"      evidence: {', '.join(f.evidence[:6])}{' …' if len(f.evidence) > 6 else ''}"
                )
            lines.append(f"      source: {f.citation.label} ({f.rule} v{f.rule_version})")
    return "\n".join(lines)
