"""The treatment history behind an assessment, as dated series for a clinician's timeline.

Not part of the assessment contract: produced beside it by `cds.pipeline.evaluate` for the
HTML report (and anything else that wants to draw the history).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from cds.contract.assessment import AdjunctTreatment, Trial


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EpisodeSpan(_Model):
    start: date | None
    end: date | None  # None: still going on the evaluation date
    current: bool
    evidence: list[str]


class BloodPressurePoint(_Model):
    date: date
    systolic: float | None
    diastolic: float | None
    ref: str


class ScorePoint(_Model):
    date: date
    value: float
    ref: str


class Window(_Model):
    name: str  # e.g. "blood-pressure look-back (30 days)"
    start: date
    end: date


class Timeline(_Model):
    as_of: date
    episodes: list[EpisodeSpan]
    trials: list[Trial]  # every antidepressant trial, current and previous episodes
    adjuncts: list[AdjunctTreatment]
    blood_pressure: list[BloodPressurePoint]
    phq9: list[ScorePoint]
    weight_kg: list[ScorePoint]
    windows: list[Window]
