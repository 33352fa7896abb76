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
    rules: list[str] = Field(default_factory=list, description="Ids of the rules that fired, sorted")
    incomplete: str | None = Field(
        default=None,
        description="Why part of the record could not be read; then no verdict reads as a clearance",
    )
    error: str | None = None


def row_from(assessment: Assessment, source: str, fired: list[str] | None = None) -> Row:
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
        rules=sorted(set(fired if fired is not None else _rules_of(assessment))),
    )


def _rules_of(assessment: Assessment) -> list[str]:
    return [r.rule for r in assessment.indication.rules] + [f.rule for f in assessment.findings]


# What a clearance reads as when part of the record could not be read: what is found stands
# (a contraindication, not-eligible), what clears does not.
UNCLEARED_INDICATION: IndicationStatus = "insufficient-data"
UNCLEARED_VERDICT: Verdict = "insufficient-data"
_CLEARING_VERDICTS = frozenset({"appropriate", "use-with-caution"})


def incomplete_row(row: Row, reason: str) -> Row:
    """`row` for a record part of which could not be read: `eligible` reads `insufficient-data`,
    `appropriate` and `use-with-caution` read `insufficient-data`; the reason is in `incomplete`."""

    def verdict(v: Verdict | None) -> Verdict | None:
        return UNCLEARED_VERDICT if v in _CLEARING_VERDICTS else v

    reasons = "; ".join(r for r in (row.incomplete, reason) if r)
    return row.model_copy(
        update={
            "indication": UNCLEARED_INDICATION if row.indication == "eligible" else row.indication,
            "esketamine": verdict(row.esketamine),
            "ketamine_iv": verdict(row.ketamine_iv),
            "incomplete": reasons[:MAX_REASON],
        }
    )


MAX_REASON = 500


def error_row(patient: str, source: str, message: str) -> Row:
    return Row(patient=patient, source=source, error=message)


class Summary(BaseModel):
    patients: int = 0
    errors: int = 0
    indication: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(INDICATION_STATUSES, 0))
    esketamine: dict[str, int] = Field(default_factory=dict)
    ketamine_iv: dict[str, int] = Field(default_factory=dict)
    contraindications: dict[str, int] = Field(default_factory=dict, description="Patients with each concept")
    incomplete: int = Field(default=0, description="Patients whose record could not all be read")
    run_incomplete: int = Field(default=0, description="Unreadable input lines that name no patient")
    unreadable: list[str] = Field(default_factory=list, description="The first unreadable input lines")
    skipped: list[str] = Field(default_factory=list, description="Input files that are not patient records")
    not_parsed: int = Field(default=0, description="Bulk lines of resource types no fact reads: never parsed")

    @property
    def unusable(self) -> bool:
        """Some record could not be used (an error row, an incomplete row, an unattributed line)."""
        return bool(self.errors or self.incomplete or self.run_incomplete)

    def add(self, row: Row) -> None:
        self.patients += 1
        if row.incomplete is not None:
            self.incomplete += 1
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
        if self.incomplete:
            out.append(
                f"{self.incomplete} patients with unreadable records: no eligible or appropriate among them "
                "(see the incomplete column)"
            )
        if self.run_incomplete:
            out.append(
                f"run incomplete: {self.run_incomplete} unreadable input lines name no patient, so no row "
                "reads eligible or appropriate"
            )
        if self.unreadable:
            out.append(f"unreadable input, e.g. {self.unreadable[0]}")
        if self.not_parsed:
            out.append(f"{self.not_parsed} lines of resource types no fact reads, not parsed")
        if self.skipped:
            out.append(
                f"{len(self.skipped)} files skipped, not patient records: {', '.join(self.skipped[:5])}"
            )
        return out
