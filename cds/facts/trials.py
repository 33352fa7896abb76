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

from cds.contract.facts import AdjunctFact, DepressionFact, Phq9Fact, TreatmentHistoryFact, TrialFact
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
    exposures: list[Exposure],
    depression: DepressionFact,
    as_of: date,
    settings: Settings,
    doses: DoseTable,
    phq9: Phq9Fact | None = None,
) -> list[TrialFact]:
    gap = timedelta(days=settings.trd.max_gap_days)
    by_drug: dict[str, list[Exposure]] = defaultdict(list)
    for e in exposures:
        if e.valueset == "antidepressants":
            by_drug[e.ingredient].append(e)
    trials: list[TrialFact] = []
    for drug, records in sorted(by_drug.items()):
        minimum = doses.doses[drug].min_mg_per_day if drug in doses.doses else None
        for group in _group(records, gap):
            trials.append(judge_trial(drug, group, minimum, depression, as_of, settings, phq9))
    trials.sort(key=lambda t: (t.start or date.min, t.drug))
    return trials


# --- One trial, judged one question at a time --------------------------------------------------
# Each judgement answers True (the record proves it), False (not even the most favourable reading
# of the gaps allows it) or None (the record cannot tell: what to obtain is listed).

Judgement = bool | None


@dataclass(frozen=True)
class Course:
    """The records of one trial laid out in time, twice: as the record proves it (an unknown end
    is the start day) and as it allows it (an unknown end runs until the next record or today)."""

    records: list[Exposure]
    proven: list[_Span]
    allowed: list[_Span]
    start: date | None
    ongoing: bool
    last_end: date | None  # None while ongoing
    last_end_known: bool
    missing: list[str]


def lay_out(group: list[Exposure], as_of: date) -> Course:
    missing = ["start date"] if any(e.start is None for e in group) else []
    dated = [e for e in group if e.start]
    proven: list[_Span] = []
    allowed: list[_Span] = []
    for i, e in enumerate(dated):
        assert e.start is not None
        nxt = dated[i + 1].start if i + 1 < len(dated) else None
        end_known = as_of if e.ongoing else e.end
        if end_known is None:
            missing.append("end date or supply duration")
        proven.append(_Span(e.start, end_known or e.start, e.daily_dose_mg))
        allowed.append(_Span(e.start, end_known or (nxt or as_of), e.daily_dose_mg))
    ongoing = any(e.ongoing for e in group)
    return Course(
        records=group,
        proven=proven,
        allowed=allowed,
        start=min((e.start for e in dated), default=None),  # type: ignore[type-var]
        ongoing=ongoing,
        last_end=None if ongoing else max((s.end for s in proven), default=None),
        last_end_known=not any(e.end is None and not e.ongoing for e in group[-1:]),
        missing=missing,
    )


def judge_in_episode(course: Course, dep: DepressionFact, as_of: date) -> Judgement:
    """Was the trial given in the current depressive episode?"""
    ep_start = dep.episode_start
    if not dep.mdd_active:
        return False
    if ep_start is None or course.start is None:
        return None
    reach = as_of if course.ongoing else max((s.end for s in course.allowed), default=course.start)
    if reach < ep_start:
        # Before the episode began; unless the start is only an upper bound (a recordedDate).
        return False if dep.episode_start_known else None
    proven_end = as_of if course.ongoing else (course.last_end or course.start)
    if proven_end >= ep_start and course.last_end_known:
        return True
    return None


@dataclass(frozen=True)
class EpisodeWindow:
    """The part of time a trial is measured in: from the episode start (when in the episode).
    Where the start is only an upper bound (recordedDate), the proven count uses it and the
    allowed count does not clip."""

    proven_from: date | None
    allowed_from: date | None


def episode_window(in_episode: Judgement, dep: DepressionFact) -> EpisodeWindow:
    if not in_episode:
        return EpisodeWindow(None, None)
    return EpisodeWindow(
        proven_from=dep.episode_start if dep.mdd_active else None,
        allowed_from=dep.episode_start if (dep.mdd_active and dep.episode_start_known) else None,
    )


def judge_duration(
    course: Course, window: EpisodeWindow, as_of: date, settings: Settings
) -> tuple[Judgement, float | None]:
    """Did the trial last the minimum number of weeks (without gaps longer than allowed)?
    Returns the judgement and the proven weeks."""
    gap, min_weeks = settings.trd.max_gap_days, settings.trd.min_trial_weeks
    if not course.proven:
        return (False if min_weeks > 0 else None), None
    weeks = _longest_run(course.proven, gap, window.proven_from, as_of)
    weeks_allowed = _longest_run(course.allowed, gap, window.allowed_from, as_of)
    if weeks >= min_weeks:
        return True, weeks
    return (False if weeks_allowed < min_weeks else None), weeks


def judge_dose(course: Course, drug: str, minimum: float | None) -> tuple[Judgement, float | None, list[str]]:
    """Did the trial reach the minimum effective daily dose (rules/antidepressant-doses.yaml)?
    Returns the judgement, the highest recorded daily dose, and what to obtain."""
    missing: list[str] = []
    known = [e.daily_dose_mg for e in course.records if e.daily_dose_mg is not None]
    unknown = len(known) < len(course.records)
    if unknown:
        notes = sorted({e.dose_note for e in course.records if e.dose_note})
        missing.append("daily dose" + (f" ({'; '.join(notes)})" if notes else ""))
    highest = max(known) if known else None
    if minimum is None:
        missing.append(f"a minimum adequate dose for {drug} (none in rules/antidepressant-doses.yaml)")
        return None, highest, missing
    if highest is not None and highest >= minimum:
        return True, highest, missing
    return (None if unknown else False), highest, missing


def judge_adequacy(
    course: Course, minimum: float | None, window: EpisodeWindow, as_of: date, settings: Settings
) -> tuple[Judgement, float | None]:
    """Was the minimum dose held for the minimum duration (an adequate trial)? Returns the
    judgement and the proven weeks at an adequate dose."""
    if minimum is None:
        return None, None
    gap, min_weeks = settings.trd.max_gap_days, settings.trd.min_trial_weeks
    proven = [s for s in course.proven if s.dose is not None and s.dose >= minimum]
    allowed = [s for s in course.allowed if s.dose is None or s.dose >= minimum]
    weeks = _longest_run(proven, gap, window.proven_from, as_of)
    weeks_allowed = _longest_run(allowed, gap, window.allowed_from, as_of)
    if weeks >= min_weeks:
        return True, weeks
    return (False if weeks_allowed < min_weeks else None), weeks


def judge_outcome(course: Course) -> str:
    """How the trial ended: ongoing, or the last recorded stop reason (failed, intolerance,
    remission), else unknown."""
    if course.ongoing:
        return "ongoing"
    group = course.records
    return group[-1].outcome or next((e.outcome for e in reversed(group) if e.outcome), None) or "unknown"


def judge_nonresponse(
    course: Course, phq9: Phq9Fact | None, settings: Settings
) -> tuple[Judgement, str | None]:
    """Is there evidence an ongoing trial is not working (ELIG-TRD-04, issue 13 item 7)? A recorded
    lack-of-efficacy outcome, or a PHQ-9 within lookback.phq9_days, taken once the trial had run
    min_trial_weeks, at or above trd.ongoing_nonresponse_phq9_min. An active MDD code alone is not."""
    if any(e.outcome == "failed" for e in course.records):
        return True, "ongoing; lack of efficacy recorded"
    threshold = settings.trd.ongoing_nonresponse_phq9_min
    due = course.start + timedelta(weeks=settings.trd.min_trial_weeks) if course.start else None
    if (
        phq9 is not None
        and phq9.status == "current"
        and phq9.score is not None
        and phq9.measured is not None
        and due is not None
        and phq9.measured >= due
    ):
        if phq9.score >= threshold:
            return True, f"ongoing; PHQ-9 {phq9.score:g} on {phq9.measured.isoformat()} shows non-response"
        return (
            False,
            f"ongoing; PHQ-9 {phq9.score:g} on {phq9.measured.isoformat()} is below {threshold:g}: responding",
        )
    return None, None


def judge_trial(
    drug: str,
    group: list[Exposure],
    minimum: float | None,
    dep: DepressionFact,
    as_of: date,
    settings: Settings,
    phq9: Phq9Fact | None = None,
) -> TrialFact:
    course = lay_out(group, as_of)
    in_episode = judge_in_episode(course, dep, as_of)
    window = episode_window(in_episode, dep)
    adequate_duration, weeks = judge_duration(course, window, as_of, settings)
    adequate_dose, highest_dose, dose_missing = judge_dose(course, drug, minimum)
    adequate, weeks_adequate = judge_adequacy(course, minimum, window, as_of, settings)
    outcome = judge_outcome(course)
    counts, note = _counts(in_episode, adequate, outcome, settings)
    missing = [*course.missing, *dose_missing]
    if counts is True and outcome == "ongoing":
        counts, note = judge_nonresponse(course, phq9, settings)
        if counts is None:
            missing.append(
                f"a PHQ-9 (or MADRS) within the last {settings.lookback.phq9_days} days, taken after "
                f"{settings.trd.min_trial_weeks:g} weeks on it, to show non-response"
            )
    if counts is None and outcome == "unknown" and adequate is not False and in_episode is not False:
        missing.append("why it was stopped (lack of efficacy, intolerance or response)")
    return TrialFact(
        evidence=sorted({e.ref for e in group}),
        drug=drug,
        daily_dose_mg=highest_dose,
        minimum_daily_dose_mg=minimum,
        start=course.start,
        end=course.last_end if course.last_end_known else None,
        ongoing=course.ongoing,
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
        # Ongoing: failed only with evidence of non-response (judge_nonresponse).
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
    trials: list[TrialFact],
    adjuncts: list[AdjunctFact],
    exposures: list[Exposure],
    doses: DoseTable | None = None,
) -> TreatmentHistoryFact:
    table = doses.doses if doses else {}

    def family(drug: str) -> str:
        # One molecule family is one antidepressant (venlafaxine and desvenlafaxine).
        entry = table.get(drug)
        return entry.family if entry and entry.family else drug

    failed = {family(t.drug) for t in trials if t.counts_as_failed is True}
    possible = {family(t.drug) for t in trials if t.counts_as_failed is not False}
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
        on_ssri_or_snri=any(
            e.ongoing and e.ingredient in table and table[e.ingredient].drug_class in ("ssri", "snri")
            for e in exposures
            if e.valueset == "antidepressants"
        ),
    )
