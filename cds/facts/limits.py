"""Thresholds the observation and patient readers apply (rules/settings.yaml, `observations:`).

Kept apart from cds.settings so that the fact builders take them as a parameter; only pydantic
is imported here, so cds.settings can import this module without a cycle."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ObservationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

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
