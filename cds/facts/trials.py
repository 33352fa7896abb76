"""Antidepressant trials: exposures of one ingredient merged into trials, each judged for dose,
duration, episode and outcome; and the TreatmentHistoryFact that counts them.

A trial is never judged on a guess. Each judgement is True, False or None ("the record cannot
tell"), computed twice: on what the record proves (unknown doses count as inadequate, unknown
end dates as a single day) and on what it allows (unknown doses as adequate, unknown ends as
lasting until the next record or the evaluation date). Proven → True; not even allowed → False;
otherwise None, with what to obtain.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from cds.contract.facts import AdjunctFact, DepressionFact, TreatmentHistoryFact, TrialFact
from cds.facts.medications import Exposure
from cds.settings import DoseTable, Settings


@dataclass(frozen=True)
class _Span:
    start: date
    end: date
    dose: float | None


def _longest_run(spans: list[_Span], gap_days: int, lo: date | None, hi: date) -> float:
    """Longest continuous run (gaps ≤ gap_days) of spans clipped to [lo, hi], in weeks."""
    clipped = []
    for s in spans:
        start = max(s.start, lo) if lo else s.start
        end = min(s.end, hi)
        if end >= start:
            clipped.append((start, end))
    clipped.sort()
    best = 0
    run_start: date | None = None
    run_end: date | None = None
    for start, end in clipped:
        if run_end is not None and run_start is not None and (start - run_end).days <= gap_days:
            run_end = max(run_end, end)
        else:
            run_start, run_end = start, end
        best = max(best, (run_end - run_start).days)
    return round(best / 7, 1)


def _group(exposures: list[Exposure], gap: timedelta) -> list[list[Exposure]]:
    """Consecutive records of one ingredient form one trial: the next record starts within `gap`
    of the covered time, or follows a record whose end is unknown (it may have run until then)."""
    groups: list[list[Exposure]] = [[e] for e in exposures if e.start is None]
    dated = sorted((e for e in exposures if e.start), key=lambda e: (e.start, e.end or date.max))
    current: list[Exposure] = []
    reach: date | None = None
    open_ended = False
    for e in dated:
        assert e.start is not None
        if current and (open_ended or (reach is not None and e.start <= reach + gap)):
            current.append(e)
        else:
            if current:
                groups.append(current)
            current, reach, open_ended = [e], None, False
        if e.ongoing or e.end is None:
            open_ended = True
        else:
            reach = max(reach, e.end) if reach else e.end
            open_ended = any(x.ongoing for x in current)
    if current:
        groups.append(current)
    return groups


def build_trials(
    exposures: list[Exposure], depression: DepressionFact, as_of: date, settings: Settings, doses: DoseTable
) -> list[TrialFact]:
    gap = timedelta(days=settings.trd.max_gap_days)
    min_weeks = settings.trd.min_trial_weeks
    by_drug: dict[str, list[Exposure]] = defaultdict(list)
    for e in exposures:
        if e.valueset == "antidepressants":
            by_drug[e.ingredient].append(e)
    trials: list[TrialFact] = []
    for drug, records in sorted(by_drug.items()):
        minimum = doses.doses[drug].min_mg_per_day if drug in doses.doses else None
        for group in _group(records, gap):
            trials.append(_judge(drug, group, minimum, depression, as_of, settings, min_weeks))
    trials.sort(key=lambda t: (t.start or date.min, t.drug))
    return trials


def _judge(
    drug: str,
    group: list[Exposure],
    minimum: float | None,
    dep: DepressionFact,
    as_of: date,
    settings: Settings,
    min_weeks: float,
) -> TrialFact:
    gap_days = settings.trd.max_gap_days
    refs = sorted({e.ref for e in group})
    missing: list[str] = []
    if any(e.start is None for e in group):
        missing.append("start date")
    dated = [e for e in group if e.start]
    proven: list[_Span] = []
    allowed: list[_Span] = []
    for i, e in enumerate(dated):
        assert e.start is not None
        nxt = dated[i + 1].start if i + 1 < len(dated) else None
        if e.ongoing:
            end_known: date | None = as_of
        else:
            end_known = e.end
        if end_known is None:
            missing.append("end date or supply duration")
        proven.append(_Span(e.start, end_known or e.start, e.daily_dose_mg))
        allowed.append(_Span(e.start, end_known or (nxt or as_of), e.daily_dose_mg))
    ep_start = dep.episode_start
    # Episode bounds: where the start is only an upper bound (recordedDate), time before it may
    # still be in the episode: the proven count uses it, the allowed count does not clip.
    proven_lo = ep_start if dep.mdd_active else None
    allowed_lo = ep_start if (dep.mdd_active and dep.episode_start_known) else None
    start = min((e.start for e in dated), default=None)  # type: ignore[type-var]
    ongoing = any(e.ongoing for e in group)
    last_end = None if ongoing else max((s.end for s in proven), default=None)
    last_known = not any(e.end is None and not e.ongoing for e in group[-1:])
    # In the current episode?
    if not dep.mdd_active:
        in_episode: bool | None = False
    elif ep_start is None or start is None:
        in_episode = None
    else:
        reach = as_of if ongoing else max((s.end for s in allowed), default=start)
        if reach < ep_start:
            in_episode = False if dep.episode_start_known else None
        elif (as_of if ongoing else (last_end or start)) >= ep_start and last_known:
            in_episode = True
        else:
            in_episode = None
    lo_p = proven_lo if in_episode else None
    lo_a = allowed_lo if in_episode else None
    weeks = _longest_run(proven, gap_days, lo_p, as_of) if dated else None
    weeks_allowed = _longest_run(allowed, gap_days, lo_a, as_of) if dated else 0.0
    known_doses = [e.daily_dose_mg for e in group if e.daily_dose_mg is not None]
    unknown_dose = len(known_doses) < len(group)
    if unknown_dose:
        notes = sorted({e.dose_note for e in group if e.dose_note})
        missing.append("daily dose" + (f" ({'; '.join(notes)})" if notes else ""))
    max_dose = max(known_doses) if known_doses else None
    if minimum is None:
        adequate_dose: bool | None = None
        missing.append(f"a minimum adequate dose for {drug} (none in rules/antidepressant-doses.yaml)")
    elif max_dose is not None and max_dose >= minimum:
        adequate_dose = True
    elif unknown_dose:
        adequate_dose = None
    else:
        adequate_dose = False
    adequate_duration: bool | None = (
        True if weeks is not None and weeks >= min_weeks else False if weeks_allowed < min_weeks else None
    )
    if minimum is None:
        adequate: bool | None = None
        weeks_adequate = None
    else:
        weeks_adequate = _longest_run(
            [s for s in proven if s.dose is not None and s.dose >= minimum], gap_days, lo_p, as_of
        )
        weeks_adequate_allowed = _longest_run(
            [s for s in allowed if s.dose is None or s.dose >= minimum], gap_days, lo_a, as_of
        )
        adequate = (
            True if weeks_adequate >= min_weeks else False if weeks_adequate_allowed < min_weeks else None
        )
    outcome = (
        "ongoing"
        if ongoing
        else (group[-1].outcome or next((e.outcome for e in reversed(group) if e.outcome), None) or "unknown")
    )
    counts, note = _counts(in_episode, adequate, outcome, settings)
    if counts is None and outcome == "unknown" and adequate is not False and in_episode is not False:
        missing.append("why it was stopped (lack of efficacy, intolerance or response)")
    return TrialFact(
        evidence=refs,
        drug=drug,
        daily_dose_mg=max_dose,
        minimum_daily_dose_mg=minimum,
        start=start,
        end=last_end if last_known else None,
        ongoing=ongoing,
        weeks=weeks,
        weeks_at_adequate_dose=weeks_adequate,
        in_current_episode=in_episode,
        adequate_dose=adequate_dose,
        adequate_duration=adequate_duration,
        adequate=adequate,
        outcome=outcome,
        counts_as_failed=counts,
        missing="; ".join(dict.fromkeys(missing)) if counts is None and missing else None,
        note=note,
    )


def _counts(
    in_episode: bool | None, adequate: bool | None, outcome: str, settings: Settings
) -> tuple[bool | None, str | None]:
    if in_episode is False:
        return False, "not in the current episode"
    if outcome == "remission":
        return False, "stopped after a response"
    if adequate is False:
        if outcome == "intolerance" and settings.trd.intolerance_before_adequate_counts:
            return True, "stopped for intolerance before it was adequate (counted by settings)"
        return (
            False,
            "stopped for intolerance before it was adequate" if outcome == "intolerance" else "not adequate",
        )
    if adequate is None or in_episode is None:
        return None, None
    if outcome in ("failed", "ongoing", "intolerance"):
        # Ongoing while the episode persists is a failing trial (ELIG-TRD-04).
        return True, {
            "ongoing": "ongoing while depression persists",
            "intolerance": "adequate, then stopped for intolerance",
        }.get(outcome)
    return None, None  # adequate but stopped for an unrecorded reason


def build_adjuncts(exposures: list[Exposure], ect_procedures: list[AdjunctFact]) -> list[AdjunctFact]:
    out: dict[str, AdjunctFact] = {}
    for e in exposures:
        if e.valueset != "augmentation-agents":
            continue
        prev = out.get(e.ingredient)
        starts = [d for d in (prev.start if prev else None, e.start) if d]
        ends = [d for d in (prev.end if prev else None, e.end) if d]
        out[e.ingredient] = AdjunctFact(
            evidence=sorted({*(prev.evidence if prev else []), e.ref}),
            type="augmentation",
            name=e.ingredient,
            start=min(starts) if starts else None,
            end=max(ends) if ends and not e.ongoing else None,
        )
    return list(out.values()) + ect_procedures


def build_history(
    trials: list[TrialFact], adjuncts: list[AdjunctFact], exposures: list[Exposure]
) -> TreatmentHistoryFact:
    failed = {t.drug for t in trials if t.counts_as_failed is True}
    possible = {t.drug for t in trials if t.counts_as_failed is not False}
    refs = sorted({r for t in trials for r in t.evidence})
    return TreatmentHistoryFact(
        evidence=refs,
        adequate_failed_trials=len(failed),
        possible_failed_trials=len(failed | possible),
        indeterminate_trials=len(possible - failed),
        trials_in_current_episode=sum(1 for t in trials if t.in_current_episode),
        augmentation_trials=sum(1 for a in adjuncts if a.type == "augmentation"),
        ect_courses=sum(1 for a in adjuncts if a.type == "ect"),
        on_oral_antidepressant=any(e.ongoing for e in exposures if e.valueset == "antidepressants"),
    )
