"""FHIR resources → the FactSet of one patient (and the dated series for the timeline)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from cds.assessment.models import AdjunctTreatment, Trial
from cds.assessment.timeline import EpisodeSpan, Timeline, Window
from cds.errors import InputError
from cds.facts import conditions as cond
from cds.facts import medications as meds
from cds.facts import observations as obs
from cds.facts.models import (
    AdjunctFact,
    AllergyFact,
    BenzodiazepineLoadFact,
    BloodPressureFact,
    BodyMeasureFact,
    ConditionFact,
    ConditionReviewFact,
    DepressionFact,
    Fact,
    HepaticFact,
    MedicationFact,
    PatientFact,
    Phq9Fact,
    PregnancyFact,
    SuicidalIdeationFact,
    TreatmentHistoryFact,
    TrialFact,
)
from cds.facts.patient import build_patient
from cds.facts.trials import build_adjuncts, build_history, build_trials
from cds.facts.unplaced import condition_reviews, procedure_conditions
from cds.ingest.load import RawResource
from cds.settings import load_benzodiazepine_equivalents, load_dose_table, load_outcomes, load_settings
from cds.terminology import load_text_matcher, load_valuesets
from cds.terminology.server import with_configured_server


@dataclass
class FactSet:
    as_of: date
    patient: PatientFact
    depression: DepressionFact
    conditions: list[ConditionFact]
    condition_reviews: list[ConditionReviewFact]
    trials: list[TrialFact]
    adjuncts: list[AdjunctFact]
    history: TreatmentHistoryFact
    medications: list[MedicationFact]
    allergies: list[AllergyFact]
    blood_pressure: BloodPressureFact
    body: BodyMeasureFact
    pregnancy: PregnancyFact
    phq9: Phq9Fact
    suicidal_ideation: SuicidalIdeationFact
    hepatic: HepaticFact
    benzodiazepines: BenzodiazepineLoadFact
    timeline: Timeline = field(repr=False)

    def all(self) -> list[Fact]:
        singles: list[Fact] = [
            self.patient,
            self.depression,
            self.history,
            self.blood_pressure,
            self.body,
            self.pregnancy,
            self.phq9,
            self.suicidal_ideation,
            self.hepatic,
            self.benzodiazepines,
        ]
        return [
            *singles,
            *self.conditions,
            *self.condition_reviews,
            *self.trials,
            *self.adjuncts,
            *self.medications,
            *self.allergies,
        ]


def build_facts(resources: list[RawResource], as_of: date) -> FactSet:
    settings = load_settings()
    vs = with_configured_server(load_valuesets())
    patients = [r for r in resources if r.type == "Patient"]
    if not patients:
        raise InputError("no Patient resource in the input")
    if len(patients) > 1:
        ids = ", ".join(p.ref for p in patients[:3])
        raise InputError(f"{len(patients)} patients in the input ({ids}, ...): assess one patient at a time")
    patient = build_patient(patients[0], as_of, settings)
    conditions = cond.build_conditions([r for r in resources if r.type == "Condition"], as_of, vs)
    conditions += procedure_conditions(resources, as_of, vs)
    reviews = condition_reviews(resources, vs, load_text_matcher(), cond.CONDITION_VALUESETS)
    depression = cond.build_depression(conditions, resources, as_of, settings)
    exposures = meds.build_exposures(resources, as_of, vs, load_outcomes())
    trials = build_trials(exposures, depression, as_of, settings, load_dose_table())
    adjuncts = build_adjuncts(exposures, obs.ect_procedures(resources, as_of, vs))
    history = build_history(trials, adjuncts, exposures)
    idx = obs.ObservationIndex(resources, as_of, vs, obs.OBSERVATION_VALUESETS)
    bp, bp_points = obs.blood_pressure(idx, vs, as_of, settings)
    body, weights = obs.body(idx, patient, as_of, settings)
    phq9, phq9_points = obs.phq9(idx, as_of, settings)
    lb = settings.lookback
    timeline = Timeline(
        as_of=as_of,
        episodes=_episodes(depression, conditions, as_of),
        trials=[to_trial(t) for t in trials],
        adjuncts=[to_adjunct(a) for a in adjuncts],
        blood_pressure=bp_points,
        phq9=phq9_points,
        weight_kg=weights,
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
    return FactSet(
        as_of=as_of,
        patient=patient,
        depression=depression,
        conditions=conditions,
        condition_reviews=reviews,
        trials=trials,
        adjuncts=adjuncts,
        history=history,
        medications=meds.build_medication_facts(exposures, as_of),
        allergies=meds.build_allergies(resources, vs),
        blood_pressure=bp,
        body=body,
        pregnancy=obs.pregnancy(idx, vs, conditions, patient, as_of, settings),
        phq9=phq9,
        suicidal_ideation=obs.suicidal_ideation(idx, conditions, as_of, settings),
        hepatic=obs.hepatic(idx, conditions, as_of, settings),
        benzodiazepines=meds.build_benzodiazepine_load(exposures, load_benzodiazepine_equivalents()),
        timeline=timeline,
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


def to_trial(t: TrialFact) -> Trial:
    return Trial(
        drug=t.drug,
        daily_dose_mg=t.daily_dose_mg,
        weeks=t.weeks,
        in_current_episode=t.in_current_episode,
        adequate_dose=t.adequate_dose,
        adequate_duration=t.adequate_duration,
        outcome=t.outcome,
        evidence=t.evidence,
        start=t.start,
        end=t.end,
        minimum_daily_dose_mg=t.minimum_daily_dose_mg,
        counts_as_failed=t.counts_as_failed,
        note="; ".join(x for x in (t.note, t.missing and f"missing: {t.missing}") if x) or None,
    )


def to_adjunct(a: AdjunctFact) -> AdjunctTreatment:
    return AdjunctTreatment(kind=a.type, name=a.name, start=a.start, end=a.end, evidence=a.evidence)
