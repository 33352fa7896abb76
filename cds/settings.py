"""The data files beside the rules, typed: rules/settings.yaml (thresholds and look-back windows),
the antidepressant dose table, the outcome vocabulary and the benzodiazepine equivalents.

Read once per `cds.knowledge.Knowledge`; nothing here is cached process-wide."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cds import yamlio
from cds.errors import RuleFileError


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrdSettings(_M):
    min_failed_trials: int
    min_trial_weeks: float
    max_gap_days: int
    intolerance_before_adequate_counts: bool
    ongoing_nonresponse_phq9_min: float = Field(
        description="An ongoing trial counts as failed only with a recent PHQ-9 at or above this"
    )
    moderate_episode_phq9_min: float = Field(
        description="A recent PHQ-9 at or above this makes the current episode moderate or worse (EU)"
    )


class EpisodeSettings(_M):
    remission_gap_days: int


class SuicidalIdeationSettings(_M):
    lookback_days: int
    behaviour_days: int = Field(description="Suicidal behaviour this recent counts as recent (pathway)")


class BloodPressureStopSettings(_M):
    """Do-not-dose-today thresholds: a reading at or above either half stops today's dose."""

    systolic: float
    diastolic: float
    crisis_condition_days: int = Field(
        description="A hypertensive-crisis condition without a clinical status counts when this recent"
    )


class Lookback(_M):
    blood_pressure_days: int
    weight_days: int
    height_days: int
    pregnancy_status_days: int
    phq9_days: int
    recent_cardiovascular_event_days: int
    labs_days: int


class PregnancySettings(_M):
    childbearing_age_min: int
    childbearing_age_max: int


class InteractionSettings(_M):
    benzodiazepine_diazepam_equivalent_mg: float


class HepaticSettings(_M):
    child_pugh_c_min_score: int
    child_pugh_b_min_score: int


class ObservationSettings(_M):
    """Thresholds the observation and patient readers apply (`observations:`)."""

    bp_pairing_minutes: float = Field(
        gt=0, description="Separate systolic and diastolic Observations this close in time form one reading"
    )
    weight_min_kg: float = Field(gt=0, description="Lightest plausible adult weight")
    weight_max_kg: float = Field(gt=0, description="Heaviest plausible adult weight")
    hcg_negative_below_iu_l: float = Field(gt=0, description="Quantitative hCG below this is negative")
    hcg_positive_from_iu_l: float = Field(gt=0, description="Quantitative hCG at or above this is positive")
    pregnancy_condition_max_days: int = Field(
        gt=0, description="An active pregnancy condition older than this needs its status confirmed"
    )

    @model_validator(mode="after")
    def _ordered(self) -> ObservationSettings:
        if self.weight_min_kg >= self.weight_max_kg:
            raise ValueError("weight_min_kg must be below weight_max_kg")
        if self.hcg_negative_below_iu_l > self.hcg_positive_from_iu_l:
            raise ValueError("hcg_negative_below_iu_l must not exceed hcg_positive_from_iu_l")
        return self


class Settings(_M):
    ruleset_version: str
    trd: TrdSettings
    episode: EpisodeSettings
    suicidal_ideation: SuicidalIdeationSettings
    lookback: Lookback
    pregnancy: PregnancySettings
    interactions: InteractionSettings
    hepatic: HepaticSettings
    observations: ObservationSettings
    blood_pressure_stop: BloodPressureStopSettings

    def lookup(self, dotted: str) -> Any:
        node: Any = self
        for part in dotted.split("."):
            if not isinstance(node, BaseModel) or part not in type(node).model_fields:
                raise KeyError(dotted)
            node = getattr(node, part)
        return node


class MinDose(_M):
    min_mg_per_day: float | None
    source: str
    confidence: str
    stricter_elsewhere: str | None = None
    drug_class: str | None = Field(default=None, description="ssri, snri, ... (EU add-on requirement)")
    family: str | None = Field(
        default=None,
        description="Molecule family counted as one antidepressant (desvenlafaxine: venlafaxine)",
    )


class DoseTable(_M):
    version: str
    doses: dict[str, MinDose]


class OutcomeVocabulary(_M):
    system: str
    codes: dict[str, list[str]]
    text: dict[str, list[str]]


class BenzodiazepineEquivalents(_M):
    version: str
    source: str
    equivalent_to_10mg_diazepam: dict[str, float]


def _read(path: Path) -> Any:
    try:
        return yamlio.load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        line = exc.problem_mark.line + 1 if getattr(exc, "problem_mark", None) else None  # type: ignore[attr-defined]
        raise RuleFileError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}", file=str(path), line=line
        ) from exc
    except OSError as exc:
        raise RuleFileError(f"cannot read: {exc.strerror}", file=str(path)) from exc


def _parse(model: type[_M], path: Path) -> Any:
    try:
        return model.model_validate(_read(path))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise RuleFileError(f"{where}: {err['msg']}", file=str(path)) from exc


class Concept(_M):
    group: Literal["contraindications-and-precautions", "interactions", "data-gaps", "monitoring-and-dosing"]
    contract: bool = Field(description="A term of the output contract's vocabulary (ASSESSMENT.md)")
    why: str | None = Field(default=None, description="Why a term outside the contract was added")

    @model_validator(mode="after")
    def _added_terms_say_why(self) -> Concept:
        if not self.contract and not self.why:
            raise ValueError("a concept outside the contract must say why it was added (why: ...)")
        return self


class ConceptVocabulary(_M):
    concepts: dict[str, Concept]

    def __contains__(self, term: object) -> bool:
        return term in self.concepts

    def terms(self) -> list[str]:
        return sorted(self.concepts)


# The data files of a rules folder that are not rules, and the model each is read with.
TABLE_FILES: dict[str, type[_M] | None] = {
    "settings.yaml": Settings,
    "antidepressant-doses.yaml": DoseTable,
    "outcomes.yaml": OutcomeVocabulary,
    "benzodiazepine-equivalents.yaml": BenzodiazepineEquivalents,
    "concepts.yaml": ConceptVocabulary,
    "release.yaml": None,  # the release lock (cds/release.py), read by lint only
    "product-strengths.yaml": None,  # mg per dispensing unit, read by the service (cds/service/orders.py)
}


def load_settings(folder: Path) -> Settings:
    result: Settings = _parse(Settings, folder / "settings.yaml")
    return result


def load_dose_table(folder: Path) -> DoseTable:
    result: DoseTable = _parse(DoseTable, folder / "antidepressant-doses.yaml")
    return result


def load_outcomes(folder: Path) -> OutcomeVocabulary:
    result: OutcomeVocabulary = _parse(OutcomeVocabulary, folder / "outcomes.yaml")
    return result


def load_benzodiazepine_equivalents(folder: Path) -> BenzodiazepineEquivalents:
    result: BenzodiazepineEquivalents = _parse(
        BenzodiazepineEquivalents, folder / "benzodiazepine-equivalents.yaml"
    )
    return result


def load_concepts(folder: Path) -> ConceptVocabulary:
    result: ConceptVocabulary = _parse(ConceptVocabulary, folder / "concepts.yaml")
    return result
