"""FHIR resources → the FactSet of one patient: facts only (the report's timeline is built from the
same resources in `timeline.py`, when a report is rendered)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cds.contract.assessment import AdjunctTreatment, Trial
from cds.contract.facts import (
    AdjunctFact,
    AllergyFact,
    BenzodiazepineLoadFact,
    BloodPressureFact,
    BodyMeasureFact,
    ConditionFact,
    ConditionReviewFact,
    DepressionFact,
    EpisodeSeverityFact,
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
from cds.contract.timeline import BloodPressurePoint, ScorePoint
from cds.errors import InputError
from cds.facts import conditions as cond
from cds.facts import medications as meds
from cds.facts import observations as obs
from cds.facts.patient import build_patient
from cds.facts.severity import build_episode_severity
from cds.facts.trials import build_adjuncts, build_history, build_trials
from cds.facts.unplaced import condition_reviews, procedure_conditions
from cds.ingest.load import RawResource
from cds.knowledge import Knowledge
from cds.terminology.remembered import remembered
from cds.terminology.server import with_configured_server


@dataclass(frozen=True)
class ObservationSeries:
    """The dated readings behind the observation facts, kept for the report's timeline (which
    would otherwise read every Observation a second time)."""

    blood_pressure: list[BloodPressurePoint]
    phq9: list[ScorePoint]
    weight_kg: list[ScorePoint]


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
    severity: EpisodeSeverityFact
    series: ObservationSeries

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
            self.severity,
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


def the_patient(resources: list[RawResource]) -> RawResource:
    patients = [r for r in resources if r.type == "Patient"]
    if not patients:
        raise InputError("no Patient resource in the input")
    if len(patients) > 1:
        ids = ", ".join(p.ref for p in patients[:3])
        raise InputError(f"{len(patients)} patients in the input ({ids}, ...): assess one patient at a time")
    return patients[0]


def build_facts(resources: list[RawResource], knowledge: Knowledge, as_of: date) -> FactSet:
    settings = knowledge.settings
    # A configured terminology server (deployment setting, not knowledge) may place codes no
    # expansion lists; it can add a match, never remove one.
    # Without one, an answer depends on the concept alone, and is remembered.
    vs = remembered(with_configured_server(knowledge.valuesets))
    patient = build_patient(the_patient(resources), as_of, settings)
    conditions = cond.build_conditions([r for r in resources if r.type == "Condition"], as_of, vs)
    conditions += procedure_conditions(resources, as_of, vs)
    reviews = condition_reviews(resources, vs, knowledge.text_matcher, cond.CONDITION_VALUESETS)
    depression = cond.build_depression(conditions, resources, as_of, settings)
    exposures = meds.build_exposures(
        resources,
        as_of,
        vs,
        knowledge.outcomes,
        identity=knowledge.drug_identity,
        doses=knowledge.doses,
        gap_days=settings.trd.max_gap_days,
    )
    idx = obs.ObservationIndex(resources, as_of, vs, obs.OBSERVATION_VALUESETS)
    phq9, phq9_points = obs.phq9(idx, as_of, settings)
    blood_pressure, bp_points = obs.blood_pressure(idx, vs, as_of, settings)
    body, weight_points = obs.body(idx, patient, as_of, settings)
    trials = build_trials(exposures, depression, as_of, settings, knowledge.doses, phq9)
    adjuncts = build_adjuncts(exposures, obs.ect_procedures(resources, as_of, vs))
    return FactSet(
        as_of=as_of,
        patient=patient,
        depression=depression,
        conditions=conditions,
        condition_reviews=reviews,
        trials=trials,
        adjuncts=adjuncts,
        history=build_history(trials, adjuncts, exposures, knowledge.doses),
        medications=meds.build_medication_facts(exposures, as_of),
        allergies=meds.build_allergies(resources, vs),
        blood_pressure=blood_pressure,
        body=body,
        pregnancy=obs.pregnancy(idx, vs, conditions, patient, as_of, settings),
        phq9=phq9,
        suicidal_ideation=obs.suicidal_ideation(idx, conditions, as_of, settings),
        hepatic=obs.hepatic(idx, conditions, as_of, settings),
        benzodiazepines=meds.build_benzodiazepine_load(exposures, knowledge.benzodiazepines),
        severity=build_episode_severity(conditions, phq9, settings),
        series=ObservationSeries(bp_points, phq9_points, weight_points),
    )


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
