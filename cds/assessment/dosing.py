"""Dosing from the dosing rules that fired: the stricter (lower) start dose wins; IV ketamine
is mg/kg × the current actual body weight, with an ideal-body-weight alternative as a note."""

from __future__ import annotations

from cds.contract.assessment import EsketamineDosing, KetamineIvDosing, ScheduleStep
from cds.facts.build import FactSet
from cds.ruleset.schema import DosingSpec


def _schedule(spec: DosingSpec) -> list[ScheduleStep]:
    return [ScheduleStep(**s.model_dump()) for s in spec.schedule]


def choose_esketamine(specs: list[DosingSpec], pathway: str | None) -> tuple[DosingSpec | None, list[str]]:
    """The one esketamine regimen for this chart: the pathway's (TRD when none), the lowest start
    dose among its rules. On the suicidal-ideation pathway with no regimen for this patient (EU,
    65 or over) the TRD regimen applies, with a note saying why."""
    wanted = pathway or "trd"
    notes: list[str] = []
    candidates = [s for s in specs if s.product == "esketamine" and s.regimen == wanted and s.start_dose_mg]
    if not candidates and wanted == "suicidal-ideation":
        candidates = [
            s for s in specs if s.product == "esketamine" and s.regimen == "trd" and s.start_dose_mg
        ]
        if candidates:
            notes.append(
                "The 84 mg psychiatric-emergency regimen is stated for adults under 65 (EU SmPC 4.2): "
                "the standard start dose applies."
            )
    if not candidates:
        return None, notes
    return min(candidates, key=lambda s: s.start_dose_mg or 0), notes + [
        n for s in candidates for n in s.notes
    ]


def esketamine_dosing(specs: list[DosingSpec], pathway: str | None) -> EsketamineDosing | None:
    spec, notes = choose_esketamine(specs, pathway)
    if spec is None:
        return None
    return EsketamineDosing(
        start_dose_mg=spec.start_dose_mg or 0,
        schedule=_schedule(spec),
        regimen=spec.regimen,
        notes=list(dict.fromkeys(notes)),
    )


def ketamine_iv_dosing(specs: list[DosingSpec], facts: FactSet) -> KetamineIvDosing | None:
    candidates = [s for s in specs if s.product == "ketamine-iv" and s.dose_mg_per_kg]
    body = facts.body
    if not candidates or body.weight_status != "current" or body.weight_kg is None:
        return None  # never a dose on a stale or missing weight: a data-gap finding says so
    spec = min(candidates, key=lambda s: s.dose_mg_per_kg or 0)
    per_kg = spec.dose_mg_per_kg or 0
    notes = list(spec.notes)
    alternatives: list[dict[str, float | str]] = []
    threshold = spec.ideal_weight_note_bmi
    if threshold is not None and body.bmi is not None and body.bmi >= threshold:
        if body.ideal_body_weight_kg is not None:
            alternatives.append(
                {
                    "weight_basis": "ideal",
                    "weight_kg": body.ideal_body_weight_kg,
                    "dose_mg": round(per_kg * body.ideal_body_weight_kg, 1),
                }
            )
            notes.append(
                f"BMI {body.bmi:g}: sources disagree on actual vs ideal body weight; an ideal-body-weight dose of "
                f"{round(per_kg * body.ideal_body_weight_kg, 1):g} mg ({body.ideal_body_weight_kg:g} kg, Devine) is "
                "offered for clinician confirmation."
            )
        else:
            notes.append(f"BMI {body.bmi:g}: an ideal-body-weight alternative needs a recorded height.")
    return KetamineIvDosing(
        dose_mg_per_kg=per_kg,
        weight_kg=body.weight_kg,
        weight_basis="actual",
        dose_mg=round(per_kg * body.weight_kg, 1),
        infusion_minutes=spec.infusion_minutes or 40,
        schedule=_schedule(spec),
        notes=notes,
        alternatives=alternatives,
    )
