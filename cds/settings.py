"""rules/settings.yaml, the antidepressant dose table and the outcome vocabulary, typed."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cds.errors import RuleFileError
from cds.facts.limits import ObservationSettings
from cds.paths import rules_dir


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrdSettings(_M):
    min_failed_trials: int
    min_trial_weeks: float
    max_gap_days: int
    intolerance_before_adequate_counts: bool


class EpisodeSettings(_M):
    remission_gap_days: int


class SuicidalIdeationSettings(_M):
    lookback_days: int


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
        return yaml.safe_load(path.read_text(encoding="utf-8"))
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


@cache
def load_settings(folder: Path | None = None) -> Settings:
    result: Settings = _parse(Settings, (folder or rules_dir()) / "settings.yaml")
    return result


@cache
def load_dose_table(folder: Path | None = None) -> DoseTable:
    result: DoseTable = _parse(DoseTable, (folder or rules_dir()) / "antidepressant-doses.yaml")
    return result


@cache
def load_outcomes(folder: Path | None = None) -> OutcomeVocabulary:
    result: OutcomeVocabulary = _parse(OutcomeVocabulary, (folder or rules_dir()) / "outcomes.yaml")
    return result


@cache
def load_benzodiazepine_equivalents(folder: Path | None = None) -> BenzodiazepineEquivalents:
    result: BenzodiazepineEquivalents = _parse(
        BenzodiazepineEquivalents, (folder or rules_dir()) / "benzodiazepine-equivalents.yaml"
    )
    return result
