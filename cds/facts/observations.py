"""Facts from Observations (blood pressure, weight, height, BMI, pregnancy status, PHQ-9, C-SSRS)
and Procedures (ECT). Each keeps the latest value on or before the evaluation date and says
whether it is current (inside its look-back window), stale or missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from cds.contract.facts import (
    AdjunctFact,
    BloodPressureFact,
    BodyMeasureFact,
    ConditionFact,
    HepaticFact,
    PatientFact,
    Phq9Fact,
    PregnancyFact,
    Status,
    SuicidalIdeationFact,
)
from cds.contract.timeline import BloodPressurePoint, ScorePoint
from cds.facts.fhirdata import parse_date, period_start
from cds.ingest.load import RawResource
from cds.settings import Settings
from cds.terminology import ValueSets

OBSERVATION_VALUESETS = [
    "blood-pressure",
    "body-weight",
    "body-height",
    "body-mass-index",
    "pregnancy-status-observation",
    "phq9-total",
    "cssrs",
    "bilirubin-total",
    "albumin",
    "inr",
]
PROCEDURE_VALUESETS = ["ect"]
_SKIP = {"entered-in-error", "cancelled", "registered"}
LOINC_YES = {"LA33-6"}  # C-SSRS "Yes" answer
_POSITIVE_TEXT = {"positive", "detected", "pregnant"}
_NEGATIVE_TEXT = {"negative", "not detected", "not pregnant"}


@dataclass(frozen=True)
class Reading:
    day: date
    ref: str
    value: float | None
    data: dict[str, Any]


def _when(res: RawResource) -> date | None:
    where = f"{res.origin} ({res.ref})"
    d = res.data
    return parse_date(
        d.get("effectiveDateTime") or d.get("effectiveInstant"), where=where, field="effectiveDateTime"
    ) or (
        period_start(d, "effectivePeriod", where=where)
        or parse_date(d.get("issued"), where=where, field="issued")
    )


def _quantity(value: object, res: RawResource, field: str) -> tuple[float | None, str]:
    if not isinstance(value, dict):
        return None, ""
    v = value.get("value")
    if v is None:
        return None, ""
    if not isinstance(v, int | float):
        from cds.errors import InputError

        raise InputError(f"{field}.value: not a number ({v!r})", location=f"{res.origin} ({res.ref})")
    return float(v), str(value.get("code") or value.get("unit") or "")


class ObservationIndex:
    """Observations grouped by value set, newest first, restricted to the evaluation date."""

    def __init__(self, resources: list[RawResource], as_of: date, vs: ValueSets, vs_ids: list[str]) -> None:
        self.by_vs: dict[str, list[Reading]] = {v: [] for v in vs_ids}
        for res in resources:
            if res.type != "Observation" or res.data.get("status") in _SKIP:
                continue
            hits = vs.match_concept_in(vs_ids, res.data.get("code"))
            if not hits:
                continue  # most observations (routine labs) matter to no rule
            day = _when(res)
            if day is None or day > as_of:
                continue
            value, _ = _quantity(res.data.get("valueQuantity"), res, "valueQuantity")
            for vs_id in hits:
                self.by_vs[vs_id].append(Reading(day, res.ref, value, res.data))
        for readings in self.by_vs.values():
            readings.sort(key=lambda r: (r.day, r.ref), reverse=True)


def _status(day: date | None, as_of: date, window: int) -> Status:
    if day is None:
        return "missing"
    return "current" if (as_of - day).days <= window else "stale"


def blood_pressure(
    idx: ObservationIndex, vs: ValueSets, as_of: date, settings: Settings
) -> tuple[BloodPressureFact, list[BloodPressurePoint]]:
    points: list[BloodPressurePoint] = []
    for r in idx.by_vs["blood-pressure"]:
        sys_v = dia_v = None
        for comp in r.data.get("component") or []:
            if vs.match_concept("systolic-blood-pressure", comp.get("code")):
                sys_v, _ = _quantity(
                    comp.get("valueQuantity"), RawResource(r.data, r.ref), "component.valueQuantity"
                )
            elif vs.match_concept("diastolic-blood-pressure", comp.get("code")):
                dia_v, _ = _quantity(
                    comp.get("valueQuantity"), RawResource(r.data, r.ref), "component.valueQuantity"
                )
        if sys_v is None and vs.match_concept("systolic-blood-pressure", r.data.get("code")):
            sys_v = r.value
        if dia_v is None and vs.match_concept("diastolic-blood-pressure", r.data.get("code")):
            dia_v = r.value
        if sys_v is not None or dia_v is not None:
            points.append(BloodPressurePoint(date=r.day, systolic=sys_v, diastolic=dia_v, ref=r.ref))
    points.sort(key=lambda p: p.date)
    # Separate systolic and diastolic observations of one day form one reading.
    latest_day = max((p.date for p in points), default=None)
    if latest_day is None:
        return BloodPressureFact(status="missing"), points
    same = [p for p in points if p.date == latest_day]
    systolic = max((p.systolic for p in same if p.systolic is not None), default=None)
    diastolic = max((p.diastolic for p in same if p.diastolic is not None), default=None)
    status = _status(latest_day, as_of, settings.lookback.blood_pressure_days)
    if systolic is None or diastolic is None:
        status = "missing" if status == "current" else status  # half a reading cannot clear anyone
    return BloodPressureFact(
        evidence=sorted({p.ref for p in same}),
        status=status,
        systolic=systolic,
        diastolic=diastolic,
        measured=latest_day,
    ), points


def _to_kg(value: float, unit: str) -> float:
    u = unit.lower()
    return value * 0.45359237 if u in ("lb", "[lb_av]", "lbs") else value / 1000 if u == "g" else value


def _to_cm(value: float, unit: str) -> float:
    u = unit.lower()
    return value * 2.54 if u in ("in", "[in_i]") else value * 100 if u == "m" else value


def body(
    idx: ObservationIndex, patient: PatientFact, as_of: date, settings: Settings
) -> tuple[BodyMeasureFact, list[ScorePoint]]:
    weights: list[ScorePoint] = []
    for r in idx.by_vs["body-weight"]:
        value, unit = _quantity(r.data.get("valueQuantity"), RawResource(r.data, r.ref), "valueQuantity")
        if value is not None:
            weights.append(ScorePoint(date=r.day, value=round(_to_kg(value, unit), 1), ref=r.ref))
    weights.sort(key=lambda p: p.date)
    latest_w = weights[-1] if weights else None
    w_status = _status(latest_w.date if latest_w else None, as_of, settings.lookback.weight_days)
    height = None
    h_ref = None
    for r in idx.by_vs["body-height"]:
        value, unit = _quantity(r.data.get("valueQuantity"), RawResource(r.data, r.ref), "valueQuantity")
        if value is not None and (as_of - r.day).days <= settings.lookback.height_days:
            height, h_ref = round(_to_cm(value, unit), 1), r.ref
            break
    bmi = None
    bmi_ref = None
    for r in idx.by_vs["body-mass-index"]:
        if r.value is not None and (as_of - r.day).days <= settings.lookback.weight_days:
            bmi, bmi_ref = round(r.value, 1), r.ref
            break
    if bmi is None and height and latest_w and w_status == "current":
        bmi = round(latest_w.value / (height / 100) ** 2, 1)
    ibw = None
    if height and patient.sex in ("female", "male"):
        # Devine: 50 kg (men) / 45.5 kg (women) + 2.3 kg per inch over 5 feet.
        inches_over = max(0.0, height / 2.54 - 60)
        ibw = round((50.0 if patient.sex == "male" else 45.5) + 2.3 * inches_over, 1)
    evidence = [x for x in (latest_w.ref if latest_w else None, h_ref, bmi_ref) if x]
    return BodyMeasureFact(
        evidence=evidence,
        weight_status=w_status,
        weight_kg=latest_w.value if latest_w else None,
        weight_measured=latest_w.date if latest_w else None,
        height_cm=height,
        bmi=bmi,
        ideal_body_weight_kg=ibw,
    ), weights


def pregnancy(
    idx: ObservationIndex,
    vs: ValueSets,
    conditions: list[ConditionFact],
    patient: PatientFact,
    as_of: date,
    settings: Settings,
) -> PregnancyFact:
    active = [
        c
        for c in conditions
        if c.valueset == "pregnancy"
        and c.status in ("active", "unknown")
        and c.abatement is None
        and c.onset is not None
        and (as_of - c.onset).days <= 300
    ]
    for r in idx.by_vs["pregnancy-status-observation"]:
        if (as_of - r.day).days > settings.lookback.pregnancy_status_days:
            break
        answer = r.data.get("valueCodeableConcept")
        text = str(r.data.get("valueString") or "").strip().lower()
        if vs.match_concept("pregnancy-positive-answer", answer) or text in _POSITIVE_TEXT:
            return PregnancyFact(evidence=[r.ref], status="pregnant", measured=r.day)
        negative = vs.match_concept("pregnancy-negative-answer", answer) or text in _NEGATIVE_TEXT
        if negative and not active:
            return PregnancyFact(evidence=[r.ref], status="not-pregnant", measured=r.day)
    if active:
        return PregnancyFact(
            evidence=sorted({c.evidence[0] for c in active}), status="pregnant", measured=active[0].onset
        )
    if not patient.childbearing_potential:
        return PregnancyFact(status="not-applicable")
    return PregnancyFact(status="unknown")


def phq9(idx: ObservationIndex, as_of: date, settings: Settings) -> tuple[Phq9Fact, list[ScorePoint]]:
    points = sorted(
        (
            ScorePoint(date=r.day, value=_score(r), ref=r.ref)
            for r in idx.by_vs["phq9-total"]
            if _score(r) is not None
        ),
        key=lambda p: p.date,
    )
    if not points:
        return Phq9Fact(status="missing"), []
    last = points[-1]
    return Phq9Fact(
        evidence=[last.ref],
        status=_status(last.date, as_of, settings.lookback.phq9_days),
        score=last.value,
        measured=last.date,
    ), points


def _score(r: Reading) -> float | None:
    if r.value is not None:
        return r.value
    v = r.data.get("valueInteger")
    return float(v) if isinstance(v, int | float) else None


def suicidal_ideation(
    idx: ObservationIndex, conditions: list[ConditionFact], as_of: date, settings: Settings
) -> SuicidalIdeationFact:
    window = settings.suicidal_ideation.lookback_days
    hits: list[tuple[date, str]] = []
    for c in conditions:
        # An active suicidal-ideation condition is current whatever its onset (the stricter reading);
        # one without a clinical status counts only when recent.
        if (
            c.valueset == "suicidal-ideation"
            and c.abatement is None
            and (
                c.status == "active"
                or (c.status == "unknown" and c.onset and (as_of - c.onset).days <= window)
            )
        ):
            hits.append((c.onset or as_of, c.evidence[0]))
    for r in idx.by_vs["cssrs"]:
        if (as_of - r.day).days > window:
            continue
        answer = r.data.get("valueCodeableConcept") or {}
        codes = {c.get("code") for c in answer.get("coding") or []}
        if codes & LOINC_YES or r.data.get("valueBoolean") is True:
            hits.append((r.day, r.ref))
    if not hits:
        return SuicidalIdeationFact(current=False)
    hits.sort()
    return SuicidalIdeationFact(evidence=sorted({h[1] for h in hits}), current=True, recorded=hits[-1][0])


def ect_procedures(resources: list[RawResource], as_of: date, vs: ValueSets) -> list[AdjunctFact]:
    out = []
    for res in resources:
        if res.type != "Procedure" or res.data.get("status") in (
            "entered-in-error",
            "not-done",
            "preparation",
        ):
            continue
        if not vs.match_concept_in(PROCEDURE_VALUESETS, res.data.get("code")):
            continue
        where = f"{res.origin} ({res.ref})"
        start = parse_date(
            res.data.get("performedDateTime"), where=where, field="performedDateTime"
        ) or period_start(res.data, "performedPeriod", where=where)
        if start and start > as_of:
            continue
        out.append(
            AdjunctFact(
                evidence=[res.ref], type="ect", name="electroconvulsive therapy", start=start, end=start
            )
        )
    return out


def _latest_lab(idx: ObservationIndex, vs_id: str, as_of: date, window: int) -> Reading | None:
    for r in idx.by_vs[vs_id]:
        if r.value is not None and (as_of - r.day).days <= window:
            return r
    return None


def _bilirubin_points(r: Reading) -> int:
    unit = str(
        (r.data.get("valueQuantity") or {}).get("code")
        or (r.data.get("valueQuantity") or {}).get("unit")
        or ""
    )
    assert r.value is not None  # _latest_lab keeps readings with a value only
    mg_dl = r.value / 17.1 if unit.lower() in ("umol/l", "µmol/l") else r.value
    return 1 if mg_dl < 2 else 2 if mg_dl <= 3 else 3


def _albumin_points(r: Reading) -> int:
    unit = str(
        (r.data.get("valueQuantity") or {}).get("code")
        or (r.data.get("valueQuantity") or {}).get("unit")
        or ""
    )
    assert r.value is not None
    g_dl = r.value / 10 if unit.lower() == "g/l" else r.value
    return 1 if g_dl > 3.5 else 2 if g_dl >= 2.8 else 3


def _inr_points(r: Reading) -> int:
    assert r.value is not None
    return 1 if r.value < 1.7 else 2 if r.value <= 2.3 else 3


def hepatic(
    idx: ObservationIndex, conditions: list[ConditionFact], as_of: date, settings: Settings
) -> HepaticFact:
    """Child-Pugh from bilirubin, albumin, INR (within lookback.labs_days), ascites and hepatic
    encephalopathy diagnoses. Recorded ascites or encephalopathy of unknown grade score 3 (the
    stricter reading); their absence scores 1. Missing labs give a min-max range."""
    window = settings.lookback.labs_days
    current = [c for c in conditions if c.status in ("active", "unknown") and c.abatement is None]
    diagnosis = [c for c in current if c.valueset == "hepatic-impairment"]
    ascites = [c for c in current if c.valueset == "ascites"]
    enceph = [c for c in current if c.valueset == "hepatic-encephalopathy"]
    labs = {
        "bilirubin": (_latest_lab(idx, "bilirubin-total", as_of, window), _bilirubin_points),
        "albumin": (_latest_lab(idx, "albumin", as_of, window), _albumin_points),
        "INR": (_latest_lab(idx, "inr", as_of, window), _inr_points),
    }
    evidence = sorted(
        {c.evidence[0] for c in diagnosis + ascites + enceph}
        | {r.ref for r, _ in labs.values() if r is not None}
    )
    if not diagnosis and all(r is None for r, _ in labs.values()):
        return HepaticFact(diagnosis=False, child_pugh_class="not-assessed")
    known = sum(points(r) for r, points in labs.values() if r is not None)
    missing = [name for name, (r, _) in labs.items() if r is None]
    clinical = (3 if ascites else 1) + (3 if enceph else 1)
    low, high = known + clinical + len(missing), known + clinical + 3 * len(missing)
    h = settings.hepatic

    def cls(score: int) -> str:
        return "C" if score >= h.child_pugh_c_min_score else "B" if score >= h.child_pugh_b_min_score else "A"

    return HepaticFact(
        evidence=evidence,
        diagnosis=bool(diagnosis),
        child_pugh_min=low,
        child_pugh_max=high,
        child_pugh_class=cls(low) if cls(low) == cls(high) else "unknown",
        missing_labs=", ".join(missing) or None,
    )
