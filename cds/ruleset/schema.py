"""The rule file format (rules/**/*.yaml): one rule per file, no Python.

id: contraindication.aneurysmal-vascular-disease
version: 1.0.0
title: ...
statement: plain-language statement a clinician signs off
citation: {label: ..., url: ..., sources: [S1, S7]}
profiles: [us-fda, eu-smpc]
when:                          # every pattern must match a different fact
  - fact: condition            # a fact kind (docs/FACTS.md)
    as: aneurysm               # optional name for templates; defaults to the fact kind
    where:                     # all must hold; unknown values never match
      valueset: aneurysmal-vascular-disease
      status: {in: [active, inactive, resolved, unknown]}
      age_years: {lt: {setting: trd.min_age}}
    any:                       # optional: at least one of these must hold too
      - {systolic: {gt: 140}}
      - {diastolic: {gt: 90}}
then:
  finding: {...}   |   indication: {...}   (and optionally dosing: {...})
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cds.contract.assessment import Category, IndicationStatus, Pathway, ProductName, Severity
from cds.ruleset.operators import OPERATORS

Scalar = str | int | float | bool
OPS = tuple(OPERATORS)


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SettingRef(_M):
    setting: str


Value = Scalar | SettingRef


class Comparison(_M):
    eq: Value | None = None
    ne: Value | None = None
    lt: Value | None = None
    le: Value | None = None
    gt: Value | None = None
    ge: Value | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_at_least(self) -> Comparison:
        if not any(getattr(self, f) is not None for f in type(self).model_fields):
            raise ValueError(f"a comparison needs one of {', '.join(OPS)}")
        return self

    def items(self) -> list[tuple[str, Any]]:
        out = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is not None:
                out.append(("in" if name == "in_" else name, value))
        return out


Where = dict[str, Scalar | Comparison | SettingRef]


class Pattern(_M):
    fact: str
    as_: str | None = Field(default=None, alias="as")
    where: Where = Field(default_factory=dict)
    any: list[Where] = Field(default_factory=list, description="At least one of these must also hold")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def name(self) -> str:
        return self.as_ or self.fact


class Citation(_M):
    label: str = Field(min_length=3)
    url: str = Field(pattern=r"^https?://")
    sources: list[str] = Field(default_factory=list)


class FindingSpec(_M):
    category: Category
    severity: Severity
    concept: str
    applies_to: list[ProductName] = Field(min_length=1)
    summary: str = Field(min_length=5)
    detail: str = Field(min_length=5)
    obtain: str | None = None
    blocks: bool = False

    @model_validator(mode="after")
    def _gap_says_what_to_obtain(self) -> FindingSpec:
        if self.category == "data-gap" and not self.obtain:
            raise ValueError("a data-gap finding must say what to obtain (obtain: ...)")
        return self


class IndicationSpec(_M):
    status: IndicationStatus
    pathway: Pathway | None = None
    exclusion: bool = Field(
        default=False, description="A not-eligible that no pathway can override (e.g. age)"
    )
    reason: str = Field(min_length=5)


class ScheduleSpec(_M):
    phase: str
    weeks: str
    frequency: str
    dose_mg: list[float] | None = None
    count: int | None = None


class DosingSpec(_M):
    product: ProductName
    regimen: str
    start_dose_mg: float | None = None
    dose_mg_per_kg: float | None = None
    infusion_minutes: int | None = None
    ideal_weight_note_bmi: float | None = Field(
        default=None, description="Offer an ideal-body-weight dose at or above this BMI"
    )
    schedule: list[ScheduleSpec]
    notes: list[str] = Field(default_factory=list)


class Outcome(_M):
    finding: FindingSpec | None = None
    indication: IndicationSpec | None = None
    dosing: DosingSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Outcome:
        if (self.finding is None) == (self.indication is None):
            raise ValueError("then: needs exactly one of finding or indication")
        if self.dosing and self.finding is None:
            raise ValueError("then.dosing goes with a finding (category dosing)")
        return self


_ID = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


class Rule(_M):
    id: str
    version: str
    title: str = Field(min_length=3)
    statement: str = Field(min_length=10)
    citation: Citation
    profiles: list[Literal["us-fda", "eu-smpc"]] = Field(min_length=1)
    when: Annotated[list[Pattern], Field(min_length=1)]
    then: Outcome
    notes: str | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("id must be dotted lower-case words, e.g. contraindication.pregnancy")
        return v

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not _SEMVER.match(v):
            raise ValueError("version must be MAJOR.MINOR.PATCH, e.g. 1.0.0")
        return v

    @model_validator(mode="after")
    def _names_unique(self) -> Rule:
        names = [p.name for p in self.when]
        if len(names) != len(set(names)):
            raise ValueError("two patterns share a name: give one an `as:`")
        return self


class Lookup(Protocol):
    def lookup(self, dotted: str) -> Any: ...


def resolve(value: Any, settings: Lookup) -> Any:
    """A condition value with {setting: ...} references replaced by the settings' values."""
    if isinstance(value, SettingRef):
        return settings.lookup(value.setting)
    if isinstance(value, list):
        return [resolve(v, settings) for v in value]
    return value


def comparisons(where_value: Any) -> list[tuple[str, Any]]:
    """(operator name, raw value) pairs of one condition; a plain value means equals."""
    if isinstance(where_value, Comparison):
        return where_value.items()
    return [("eq", where_value)]


def conditions(where: Where, settings: Lookup) -> list[tuple[str, str, Any]]:
    """(field, operator name, resolved value) for every condition of a where: block."""
    return [(f, op, resolve(raw, settings)) for f, cond in where.items() for op, raw in comparisons(cond)]
