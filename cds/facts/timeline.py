"""The dated series the clinician's report draws (episodes, trials, BP, PHQ-9, weight, look-back
windows), built from the same resources as the facts, and only when a report is rendered."""

from __future__ import annotations

from datetime import date, timedelta

from cds.contract.facts import ConditionFact, DepressionFact
from cds.contract.timeline import EpisodeSpan, Timeline, Window
from cds.facts import observations as obs
from cds.facts.build import FactSet, to_adjunct, to_trial
from cds.ingest.load import RawResource
from cds.knowledge import Knowledge


def build_timeline(resources: list[RawResource], facts: FactSet, knowledge: Knowledge) -> Timeline:
    as_of, settings, vs = facts.as_of, knowledge.settings, knowledge.valuesets
    idx = obs.ObservationIndex(resources, as_of, vs, obs.OBSERVATION_VALUESETS)
    lb = settings.lookback
    return Timeline(
        as_of=as_of,
        episodes=_episodes(facts.depression, facts.conditions, as_of),
        trials=[to_trial(t) for t in facts.trials],
        adjuncts=[to_adjunct(a) for a in facts.adjuncts],
        blood_pressure=obs.blood_pressure(idx, vs, as_of, settings)[1],
        phq9=obs.phq9(idx, as_of, settings)[1],
        weight_kg=obs.body(idx, facts.patient, as_of, settings)[1],
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
