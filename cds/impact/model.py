"""The impact report: what one population looks like under the base and the changed knowledge."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cds.contract.assessment import IndicationStatus, Profile, Verdict

Indicator = Literal["critical", "warning", "info"]
INDICATORS: tuple[Indicator, ...] = ("critical", "warning", "info")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FindingKey(_Model):
    rule: str
    concept: str
    category: str
    severity: str

    def __str__(self) -> str:
        return f"{self.rule} ({self.concept}, {self.severity})"


class Outcome(_Model):
    """One patient under one version of the knowledge (error set when the record is unusable)."""

    indication: IndicationStatus | None = None
    pathway: str | None = None
    esketamine: Verdict | None = None
    ketamine_iv: Verdict | None = None
    findings: list[FindingKey] = Field(default_factory=list)
    fired: list[str] = Field(default_factory=list, description="Ids of every rule that fired")
    cards: dict[str, Indicator] = Field(
        default_factory=dict, description="One card per concept, with its indicator (as the service maps it)"
    )
    error: str | None = None


class PatientImpact(_Model):
    patient: str
    archetype: str | None = Field(default=None, description="Synthetic population archetype, if tagged")
    before: Outcome
    after: Outcome

    @property
    def newly_fired(self) -> list[str]:
        return sorted(set(self.after.fired) - set(self.before.fired))

    @property
    def stopped_firing(self) -> list[str]:
        return sorted(set(self.before.fired) - set(self.after.fired))

    @property
    def changed(self) -> bool:
        return self.before != self.after


class RuleImpact(_Model):
    rule: str
    fired_before: int
    fired_after: int
    newly_fire: int = Field(description="Patients for whom the rule fires after the change only")
    stop_firing: int = Field(description="Patients for whom the rule fired before the change only")


class Burden(_Model):
    """Cards per 1,000 patients by indicator."""

    critical: float
    warning: float
    info: float

    def get(self, indicator: Indicator) -> float:
        return float(getattr(self, indicator))


class SettingChange(_Model):
    setting: str
    before: str | None
    after: str | None


class RuleChange(_Model):
    rule: str
    change: Literal["added", "removed", "changed"]
    version_before: str | None
    version_after: str | None
    file: str

    @property
    def unbumped(self) -> bool:
        return self.change == "changed" and self.version_before == self.version_after


class KnowledgeChanges(_Model):
    settings: list[SettingChange] = Field(default_factory=list)
    rules: list[RuleChange] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list, description="Other knowledge files that differ")


class Side(_Model):
    label: str = Field(description="The git revision or folder, or 'working tree'")
    version: str
    stamp: str


class ImpactReport(_Model):
    base: Side
    changed: Side
    as_of: str
    profile: Profile
    patients: int
    errors: int
    indication_before: dict[str, int]
    indication_after: dict[str, int]
    esketamine_before: dict[str, int]
    esketamine_after: dict[str, int]
    ketamine_iv_before: dict[str, int]
    ketamine_iv_after: dict[str, int]
    burden_before: Burden
    burden_after: Burden
    rules: list[RuleImpact] = Field(description="Rules whose firing differs, most patients first")
    knowledge: KnowledgeChanges
    changed_patients: list[PatientImpact] = Field(description="Patients whose outcome differs")
    unchanged_patients: int
    unattributed: list[str] = Field(
        default_factory=list, description="Export lines no patient could be given (not in any record)"
    )

    @property
    def became_eligible(self) -> list[PatientImpact]:
        return [p for p in self.changed_patients if p.after.indication == "eligible" != p.before.indication]

    @property
    def no_longer_eligible(self) -> list[PatientImpact]:
        return [p for p in self.changed_patients if p.before.indication == "eligible" != p.after.indication]
