"""The severity of the current depressive episode (EU SmPC 4.1: moderate to severe), from a recent
PHQ-9 or, without one, the ICD-10-CM code of the active MDD diagnosis."""

from __future__ import annotations

from datetime import date

from cds.contract.facts import ConditionFact, EpisodeSeverityFact, Phq9Fact
from cds.settings import Settings

# ICD-10-CM F32.x / F33.x fourth character: 0 mild, 1 moderate, 2 severe, 3 severe with psychotic
# features; 9, 8 and A say nothing about severity.
_CODE_SEVERITY = {
    "0": "mild",
    "1": "moderate-or-severe",
    "2": "moderate-or-severe",
    "3": "moderate-or-severe",
}


def code_severity(code: str) -> str | None:
    c = code.upper().replace(".", "")
    if c[:3] in ("F32", "F33") and len(c) >= 4:
        return _CODE_SEVERITY.get(c[3])
    return None


def build_episode_severity(
    conditions: list[ConditionFact], phq9: Phq9Fact, settings: Settings
) -> EpisodeSeverityFact:
    if phq9.status == "current" and phq9.score is not None and phq9.measured is not None:
        moderate = phq9.score >= settings.trd.moderate_episode_phq9_min
        return EpisodeSeverityFact(
            evidence=list(phq9.evidence),
            status="moderate-or-severe" if moderate else "mild",
            source="score",
            basis=f"PHQ-9 {phq9.score:g} on {phq9.measured.isoformat()}",
        )
    coded = [
        (c.onset or date.min, code_severity(c.code) or "", c)
        for c in conditions
        if c.valueset == "major-depressive-disorder"
        and c.status in ("active", "unknown")
        and c.abatement is None
        and code_severity(c.code)
    ]
    if not coded:
        return EpisodeSeverityFact(status="unknown", source="none")
    # The latest diagnosis describes the current episode; on the same day the more severe code.
    _, severity, cond = max(coded, key=lambda t: (t[0], t[1] == "moderate-or-severe"))
    return EpisodeSeverityFact(
        evidence=list(cond.evidence),
        status="moderate-or-severe" if severity == "moderate-or-severe" else "mild",
        source="code",
        basis=f"{cond.display} ({cond.code})",
    )
