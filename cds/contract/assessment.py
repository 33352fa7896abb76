"""The assessment: ketamine-cds's stable JSON output (shared/contract/ASSESSMENT.md).

Fields may be added; none may be renamed or change meaning. The JSON Schema exported from
these models (`cds schema assessment`) is committed as `docs/assessment.schema.json`.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_ID: Literal["ketamine-cds/assessment/1"] = "ketamine-cds/assessment/1"

Profile = Literal["us-fda", "eu-smpc"]
IndicationStatus = Literal["eligible", "not-eligible", "insufficient-data"]
Pathway = Literal["trd", "suicidal-ideation"]
ProductName = Literal["esketamine", "ketamine-iv"]
Verdict = Literal["appropriate", "use-with-caution", "contraindicated", "not-indicated", "insufficient-data"]
Category = Literal["contraindication", "precaution", "interaction", "data-gap", "monitoring", "dosing"]
Severity = Literal["absolute", "relative", "info"]
TrialOutcome = Literal["failed", "intolerance", "ongoing", "remission", "unknown"]

PRODUCTS: tuple[ProductName, ...] = ("esketamine", "ketamine-iv")

# Concept vocabulary (contract): rules may be many, concepts are few and stable.
CONCEPTS: frozenset[str] = frozenset(
    {
        # contraindications and precautions
        "age-under-18",
        "aneurysmal-vascular-disease",
        "arteriovenous-malformation",
        "intracerebral-hemorrhage",
        "hypersensitivity",
        "recent-cardiovascular-event",
        "cardiovascular-disease",
        "cerebrovascular-disease",
        "hypertension",
        "elevated-blood-pressure",
        "pregnancy",
        "breastfeeding",
        "psychosis",
        "bipolar-disorder",
        "substance-use-disorder",
        "hepatic-impairment",
        "older-adult",
        "suicidal-ideation",
        "respiratory-risk",
        "cognitive-impairment",
        "elevated-intracranial-pressure",
        "ketamine-uropathy",
        # added: a label precaution no contract term fitted (EU PIL PREC-09; Swiss ketamine label)
        "hyperthyroidism",
        # added (issue 13 item 4): active hypertensive urgency/emergency/encephalopathy, do not dose
        "hypertensive-crisis",
        # added (issue 13 item 8): EU, esketamine is started with an SSRI or SNRI
        "add-on-antidepressant",
        # added (issue 13 item 10)
        "blood-pressure-raising-drug",
        "nasal-spray-timing",
        "raised-intraocular-pressure",
        "suicide-risk-screening",
        # interactions
        "cns-depressant",
        "benzodiazepine-efficacy",
        "psychostimulant",
        "maoi",
        "memantine",
        "theophylline",
        "lamotrigine",
        "antihypertensive",
        # data gaps
        "blood-pressure",
        "weight",
        "pregnancy-status",
        "treatment-history",
        "depression-severity",
        # added: a partial birth date that allows an age under 18 (issue 9 item 5)
        "birth-date",
        # monitoring and dosing (added)
        "post-dose-monitoring",
        "rems",
        "driving",
        "dose-schedule",
    }
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(_Model):
    label: str
    url: str


class PatientSummary(_Model):
    id: str = Field(description="FHIR reference of the patient, e.g. Patient/123")
    age: int | None = Field(description="Age in whole years on the evaluation date")
    sex: Literal["female", "male", "other", "unknown"]


class RulesetInfo(_Model):
    version: str = Field(description="Human version of the ruleset (rules/settings.yaml), set on release")
    hash: str | None = Field(
        default=None,
        description="sha256 over every knowledge file and the package: which knowledge decided this",
    )

    @property
    def stamp(self) -> str:
        """Version and hash in one string (SemVer build metadata), as audit rows and cards carry it."""
        return f"{self.version}+{self.hash[:16]}" if self.hash else self.version


class Trial(_Model):
    drug: str = Field(description="Antidepressant ingredient (lower-case INN)")
    daily_dose_mg: float | None = Field(
        description="Highest daily dose recorded in the trial; null if unknown"
    )
    weeks: float | None = Field(description="Weeks of the trial inside the current episode; null if unknown")
    in_current_episode: bool | None
    adequate_dose: bool | None
    adequate_duration: bool | None
    outcome: TrialOutcome
    evidence: list[str]
    # additions (allowed by the contract)
    start: date | None = None
    end: date | None = None
    minimum_daily_dose_mg: float | None = None
    counts_as_failed: bool | None = Field(
        default=None, description="true: counts toward TRD; false: does not; null: the record cannot tell"
    )
    note: str | None = None


class AdjunctTreatment(_Model):
    kind: Literal["augmentation", "ect"]
    name: str
    start: date | None = None
    end: date | None = None
    evidence: list[str]


class IndicationRule(_Model):
    """One indication rule that fired: the why-trace of the indication status."""

    rule: str
    rule_version: str
    status: IndicationStatus
    pathway: Pathway | None = None
    reason: str
    evidence: list[str]
    citation: Citation


class Indication(_Model):
    status: IndicationStatus
    pathway: Pathway | None
    adequate_failed_trials: int
    trials: list[Trial]
    reasons: list[str]
    # additions
    episode_start: date | None = None
    adjuncts: list[AdjunctTreatment] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="What to obtain to settle the indication")
    rules: list[IndicationRule] = Field(default_factory=list)


class ScheduleStep(_Model):
    phase: str
    weeks: str
    frequency: str
    dose_mg: list[float] | None = None
    count: int | None = None


class EsketamineDosing(_Model):
    start_dose_mg: float
    schedule: list[ScheduleStep]
    regimen: str | None = None
    notes: list[str] = Field(default_factory=list)


class KetamineIvDosing(_Model):
    dose_mg_per_kg: float
    weight_kg: float
    weight_basis: Literal["actual", "ideal"]
    dose_mg: float
    infusion_minutes: int
    schedule: list[ScheduleStep]
    notes: list[str] = Field(default_factory=list)
    alternatives: list[dict[str, float | str]] = Field(default_factory=list)


class Product(_Model):
    product: ProductName
    verdict: Verdict
    dosing: EsketamineDosing | KetamineIvDosing | None = None
    reasons: list[str] = Field(default_factory=list)


class Finding(_Model):
    rule: str
    rule_version: str
    category: Category
    severity: Severity
    concept: str
    applies_to: list[ProductName]
    summary: str
    detail: str
    evidence: list[str]
    citation: Citation
    # additions
    obtain: str | None = Field(default=None, description="For data gaps: exactly what to obtain")
    blocks: bool = Field(default=False, description="A data gap that blocks clearance of the product")


class Assessment(_Model):
    schema_: Literal["ketamine-cds/assessment/1"] = Field(default=SCHEMA_ID, alias="schema")
    patient: PatientSummary
    as_of: date
    profile: Profile
    ruleset: RulesetInfo
    indication: Indication
    products: list[Product]
    findings: list[Finding]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def to_json_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)

    def product(self, name: ProductName) -> Product:
        for p in self.products:
            if p.product == name:
                return p
        raise KeyError(name)
