"""One result row per patient, and the run's summary (always computed from the rows)."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from cds.contract.assessment import Assessment, IndicationStatus, Pathway, Verdict

INDICATION_STATUSES: tuple[str, ...] = ("eligible", "not-eligible", "insufficient-data")


class Row(BaseModel):
    """A patient's screening result; `error` set (and the verdicts empty) when the record is unusable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patient: str = Field(description="Patient id, or the file when the record names none")
    source: str = Field(description="Where the record came from (file, or the Bulk Data export)")
    indication: IndicationStatus | None = None
    pathway: Pathway | None = None
    adequate_failed_trials: int | None = None
    esketamine: Verdict | None = None
    ketamine_iv: Verdict | None = None
    contraindications: list[str] = Field(default_factory=list, description="Contraindication concepts found")
    data_gaps: list[str] = Field(default_factory=list, description="Data-gap concepts (what to obtain)")
    error: str | None = None


def row_from(assessment: Assessment, source: str) -> Row:
    verdicts = {p.product: p.verdict for p in assessment.products}
    return Row(
        patient=assessment.patient.id.removeprefix("Patient/"),
        source=source,
        indication=assessment.indication.status,
        pathway=assessment.indication.pathway,
        adequate_failed_trials=assessment.indication.adequate_failed_trials,
        esketamine=verdicts.get("esketamine"),
        ketamine_iv=verdicts.get("ketamine-iv"),
        contraindications=sorted(
            {f.concept for f in assessment.findings if f.category == "contraindication"}
        ),
        data_gaps=sorted({f.concept for f in assessment.findings if f.category == "data-gap"}),
    )


def error_row(patient: str, source: str, message: str) -> Row:
    return Row(patient=patient, source=source, error=message)


class Summary(BaseModel):
    patients: int = 0
    errors: int = 0
    indication: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(INDICATION_STATUSES, 0))
    esketamine: dict[str, int] = Field(default_factory=dict)
    ketamine_iv: dict[str, int] = Field(default_factory=dict)
    contraindications: dict[str, int] = Field(default_factory=dict, description="Patients with each concept")
    unattributed: list[str] = Field(default_factory=list, description="Input lines no patient could be given")

    def add(self, row: Row) -> None:
        self.patients += 1
        if row.error is not None:
            self.errors += 1
            return
        if row.indication is not None:
            self.indication[row.indication] = self.indication.get(row.indication, 0) + 1
        for name, verdict in (("esketamine", row.esketamine), ("ketamine_iv", row.ketamine_iv)):
            if verdict is not None:
                counts: dict[str, int] = getattr(self, name)
                counts[verdict] = counts.get(verdict, 0) + 1
        for concept in row.contraindications:
            self.contraindications[concept] = self.contraindications.get(concept, 0) + 1

    def lines(self) -> list[str]:
        """The summary as plain text lines (stderr at the end of a run)."""

        def fmt(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in Counter(counts).most_common() if v) or "none"

        out = [
            f"{self.patients} patients screened, {self.errors} with unusable records",
            f"indication: {fmt(self.indication)}",
            f"esketamine: {fmt(self.esketamine)}",
            f"ketamine-iv: {fmt(self.ketamine_iv)}",
            f"contraindications (patients): {fmt(self.contraindications)}",
        ]
        if self.unattributed:
            out.append(
                f"{len(self.unattributed)} input lines belong to no patient, e.g. {self.unattributed[0]}"
            )
        return out
