"""The dated series the clinician's report draws (episodes, trials, BP, PHQ-9, weight, look-back
windows), from the facts and the readings they were built from, and only when a report is made."""

from __future__ import annotations

from datetime import date, timedelta

from cds.contract.facts import ConditionFact, DepressionFact
from cds.contract.timeline import EpisodeSpan, Timeline, Window
from cds.facts.build import FactSet, to_adjunct, to_trial
from cds.knowledge import Knowledge


def build_timeline(facts: FactSet, knowledge: Knowledge) -> Timeline:
    as_of, settings = facts.as_of, knowledge.settings
    series = facts.series  # the readings the facts were built from: no second pass over the record
    lb = settings.lookback
    return Timeline(
        as_of=as_of,
        episodes=_episodes(facts.depression, facts.conditions, as_of),
        trials=[to_trial(t) for t in facts.trials],
        adjuncts=[to_adjunct(a) for a in facts.adjuncts],
        blood_pressure=series.blood_pressure,
        phq9=series.phq9,
        weight_kg=series.weight_kg,
        windows=[
            Window(
                name=f"blood-pressure look-back ({lb.blood_pressure_days} days)",
                start=as_of - timedelta(days=lb.blood_pressure_days),
                end=as_of,
            ),
            Window(
                name=f"weight look-back ({lb.weight_days} days)",
                start=as_of - timedelta(days=lb.weight_days),
                end=as_of,
            ),
        ],
    )


def _episodes(dep: DepressionFact, conditions: list[ConditionFact], as_of: date) -> list[EpisodeSpan]:
    spans: list[EpisodeSpan] = []
    for c in conditions:
        if c.valueset != "major-depressive-disorder" or c.onset is None:
            continue
        current = (
            dep.mdd_active
            and dep.episode_start is not None
            and c.onset >= dep.episode_start
            and c.abatement is None
        )
        if current:
            continue
        spans.append(EpisodeSpan(start=c.onset, end=c.abatement, current=False, evidence=c.evidence))
    if dep.mdd_active:
        spans.append(EpisodeSpan(start=dep.episode_start, end=None, current=True, evidence=dep.evidence))
    return sorted(spans, key=lambda s: s.start or date.min)
