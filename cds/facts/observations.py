"""Facts from Observations (blood pressure, weight, height, BMI, pregnancy status, PHQ-9, C-SSRS)
and Procedures (ECT). Each keeps the latest value on or before the evaluation date and says
whether it is current (inside its look-back window), stale or missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

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
from cds.facts.fhirdata import concept_text, parse_date, period_start
from cds.facts.units import convert, is_ucum, quantity_unit
from cds.ingest.load import RawResource
from cds.settings import ObservationSettings, Settings
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


@dataclass
class _Half:
    """One systolic or diastolic value (or both, from a panel) with its time."""

    day: date
    at: datetime | None  # None when the effective time has no clock time
    systolic: float | None
    diastolic: float | None
    refs: list[str]

    @property
    def key(self) -> tuple[date, datetime]:
        return self.day, self.at or datetime.min.replace(tzinfo=UTC)


def _instant(data: dict[str, Any]) -> datetime | None:
    raw = data.get("effectiveDateTime") or data.get("effectiveInstant")
    if raw is None and isinstance(data.get("effectivePeriod"), dict):
        raw = data["effectivePeriod"].get("start")
    if not isinstance(raw, str) or len(raw) <= 10:
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None  # _when already refused an unreadable date; a bad clock time only loses pairing
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _close(a: _Half, b: _Half, minutes: float) -> bool:
    if a.at is not None and b.at is not None:
        return abs((a.at - b.at).total_seconds()) <= minutes * 60
    return a.day == b.day  # a date without a clock time: the same day is the best that can be said


def _pair(halves: list[_Half], minutes: float) -> list[_Half]:
    """Separate systolic and diastolic results of one measurement become one reading: each systolic
    takes the nearest unpaired diastolic within `minutes` (same day when a time is missing)."""
    whole = [h for h in halves if h.systolic is not None and h.diastolic is not None]
    sys_only = sorted((h for h in halves if h.diastolic is None), key=lambda h: h.key)
    dia_only = [h for h in halves if h.systolic is None]
    for s in sys_only:
        near = [d for d in dia_only if _close(s, d, minutes)]
        if not near:
            whole.append(s)
            continue
        d = min(near, key=lambda d: abs((d.key[1] - s.key[1]).total_seconds()) + abs((d.day - s.day).days))
        dia_only.remove(d)
        whole.append(_Half(max(s.day, d.day), s.at or d.at, s.systolic, d.diastolic, s.refs + d.refs))
    return whole + dia_only


def _mm_hg(quantity: object, res: RawResource, field: str) -> float | None:
    """A pressure in mmHg: a UCUM pressure unit (kPa, mm[Hg]) is converted; a unit that is not UCUM
    ("mmHg", "mm Hg") or none is read as mmHg, the unit blood pressure is charted in; a UCUM unit that
    is not a pressure makes the value unreadable (None)."""
    value, _ = _quantity(quantity, res, field)
    if value is None or not isinstance(quantity, dict):
        return None
    unit = quantity_unit(quantity)
    if unit is None or not is_ucum(unit):
        return value
    return convert(value, unit, "mm[Hg]")


def blood_pressure(
    idx: ObservationIndex, vs: ValueSets, as_of: date, settings: Settings
) -> tuple[BloodPressureFact, list[BloodPressurePoint]]:
    """Panel 85354-9 / 55284-4 with components, or separate 8480-6 / 8462-4 results paired by time
    (settings observations.bp_pairing_minutes). The fact is the latest complete reading; a newer
    half-reading that is higher replaces its half, so a newer elevated value is never hidden."""
    halves: list[_Half] = []
    for r in idx.by_vs["blood-pressure"]:
        raw = RawResource(r.data, r.ref)
        sys_v = dia_v = None
        for comp in r.data.get("component") or []:
            if vs.match_concept("systolic-blood-pressure", comp.get("code")):
                sys_v = _mm_hg(comp.get("valueQuantity"), raw, "component.valueQuantity")
            elif vs.match_concept("diastolic-blood-pressure", comp.get("code")):
                dia_v = _mm_hg(comp.get("valueQuantity"), raw, "component.valueQuantity")
        if sys_v is None and vs.match_concept("systolic-blood-pressure", r.data.get("code")):
            sys_v = _mm_hg(r.data.get("valueQuantity"), raw, "valueQuantity")
        if dia_v is None and vs.match_concept("diastolic-blood-pressure", r.data.get("code")):
            dia_v = _mm_hg(r.data.get("valueQuantity"), raw, "valueQuantity")
        if sys_v is not None or dia_v is not None:
            halves.append(_Half(r.day, _instant(r.data), sys_v, dia_v, [r.ref]))
    readings = sorted(_pair(halves, settings.observations.bp_pairing_minutes), key=lambda h: h.key)
    points = [
        BloodPressurePoint(date=h.day, systolic=h.systolic, diastolic=h.diastolic, ref=h.refs[0])
        for h in readings
    ]
    complete = [h for h in readings if h.systolic is not None and h.diastolic is not None]
    if not complete:
        if not readings:
            return BloodPressureFact(status="missing"), points
        last = readings[-1]  # half a reading cannot clear anyone
        status = (
            "stale"
            if _status(last.day, as_of, settings.lookback.blood_pressure_days) == "stale"
            else "missing"
        )
        return BloodPressureFact(
            evidence=sorted(last.refs),
            status=status,
            systolic=last.systolic,
            diastolic=last.diastolic,
            measured=last.day,
        ), points
    latest = complete[-1]
    # Readings the record cannot order (same day without clock times): the highest of each half.
    ties = [h for h in complete if h.key == latest.key]
    systolic = max(h.systolic for h in ties if h.systolic is not None)
    diastolic = max(h.diastolic for h in ties if h.diastolic is not None)
    refs = {ref for h in ties for ref in h.refs}
    for h in readings:
        if h.key <= latest.key:
            continue
        if h.systolic is not None and systolic is not None and h.systolic > systolic:
            systolic, refs = h.systolic, refs | set(h.refs)
        if h.diastolic is not None and diastolic is not None and h.diastolic > diastolic:
            diastolic, refs = h.diastolic, refs | set(h.refs)
    return BloodPressureFact(
        evidence=sorted(refs),
        status=_status(latest.day, as_of, settings.lookback.blood_pressure_days),
        systolic=systolic,
        diastolic=diastolic,
        measured=latest.day,
    ), points


@dataclass(frozen=True)
class Weight:
    kg: float | None
    problem: str | None


def read_weight(quantity: object, limits: ObservationSettings) -> Weight:
    """A body-weight Quantity in kg through UCUM, or why it cannot be used (never a guess)."""
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return Weight(None, "no numeric value")
    if quantity.get("comparator"):
        return Weight(
            None, f"value is bounded ({quantity['comparator']} {quantity['value']:g}), not measured"
        )
    unit = quantity_unit(quantity)
    if unit is None:
        return Weight(None, "no UCUM unit")
    kg = convert(float(quantity["value"]), unit, "kg")
    if kg is None:
        return Weight(None, f"unit {unit!r} is not a UCUM mass unit")
    if not limits.weight_min_kg <= kg <= limits.weight_max_kg:
        return Weight(
            None,
            f"{kg:.1f} kg is outside the plausible adult range "
            f"{limits.weight_min_kg:g}-{limits.weight_max_kg:g} kg",
        )
    return Weight(round(kg, 1), None)


def _neg(ref: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in ref)


def _height_cm(quantity: object) -> float | None:
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    return convert(float(quantity["value"]), quantity_unit(quantity), "cm")


def body(
    idx: ObservationIndex, patient: PatientFact, as_of: date, settings: Settings
) -> tuple[BodyMeasureFact, list[ScorePoint]]:
    limits = settings.observations
    weights: list[ScorePoint] = []
    latest: tuple[Reading, Weight] | None = None
    # Newest first by day, then by clock time; same-day ties keep the earliest reference (as before).
    ordered = sorted(
        idx.by_vs["body-weight"],
        key=lambda r: (r.day, _instant(r.data) or datetime.min.replace(tzinfo=UTC), _neg(r.ref)),
        reverse=True,
    )
    for r in ordered:
        q = r.data.get("valueQuantity")
        if not isinstance(q, dict) or q.get("value") is None:
            continue  # no value (dataAbsentReason): not a measurement
        _quantity(q, RawResource(r.data, r.ref), "valueQuantity")  # a non-number is an input error
        w = read_weight(q, limits)
        if latest is None:
            latest = (r, w)
        if w.kg is not None:
            weights.append(ScorePoint(date=r.day, value=w.kg, ref=r.ref))
    weights.sort(key=lambda p: p.date)
    w_status: Literal["current", "stale", "missing", "unusable"] = _status(
        latest[0].day if latest else None, as_of, settings.lookback.weight_days
    )
    weight_kg = latest[1].kg if latest else None
    problem = latest[1].problem if latest else None
    if latest is not None and problem is not None and w_status == "current":
        w_status = "unusable"  # the latest weight cannot be read: re-weigh, never dose on it
    height = None
    h_ref = None
    for r in idx.by_vs["body-height"]:
        cm = _height_cm(r.data.get("valueQuantity"))
        if cm is not None and (as_of - r.day).days <= settings.lookback.height_days:
            height, h_ref = round(cm, 1), r.ref
            break
    bmi = None
    bmi_ref = None
    for r in idx.by_vs["body-mass-index"]:
        if r.value is not None and (as_of - r.day).days <= settings.lookback.weight_days:
            bmi, bmi_ref = round(r.value, 1), r.ref
            break
    if bmi is None and height and weight_kg is not None and w_status == "current":
        bmi = round(weight_kg / (height / 100) ** 2, 1)
    ibw = None
    if height and patient.sex in ("female", "male"):
        # Devine: 50 kg (men) / 45.5 kg (women) + 2.3 kg per inch over 5 feet.
        inches_over = max(0.0, height / 2.54 - 60)
        ibw = round((50.0 if patient.sex == "male" else 45.5) + 2.3 * inches_over, 1)
    evidence = [x for x in (latest[0].ref if latest else None, h_ref, bmi_ref) if x]
    return BodyMeasureFact(
        evidence=evidence,
        weight_status=w_status,
        weight_kg=weight_kg if w_status != "unusable" else None,
        weight_measured=latest[0].day if latest else None,
        weight_problem=problem,
        height_cm=height,
        bmi=bmi,
        ideal_body_weight_kg=ibw,
    ), weights


Answer = Literal["positive", "negative", "indeterminate"]


def read_pregnancy_result(
    r: Reading, vs: ValueSets, limits: ObservationSettings
) -> tuple[Answer, str] | None:
    """A pregnancy status or hCG result: coded answer (SNOMED, LOINC LA codes), text, or a quantity
    in IU per volume against the stated thresholds. None: the observation carries no result."""
    data = r.data
    answer = data.get("valueCodeableConcept")
    if answer is not None:
        if vs.match_concept("pregnancy-positive-answer", answer):
            return "positive", "positive answer"
        if vs.match_concept("pregnancy-negative-answer", answer):
            return "negative", "negative answer"
        text = _norm(concept_text(answer))
        return _text_answer(text) or ("indeterminate", f"answer not recognised ({text or 'no code matched'})")
    if isinstance(data.get("valueString"), str):
        text = _norm(data["valueString"])
        return _text_answer(text) or ("indeterminate", f"result text not recognised ({text:.40})")
    if isinstance(data.get("valueBoolean"), bool):
        return ("positive", "true") if data["valueBoolean"] else ("negative", "false")
    q = data.get("valueQuantity")
    if isinstance(q, dict) and isinstance(q.get("value"), int | float):
        unit = quantity_unit(q)
        iu_l = convert(float(q["value"]), unit, "[IU]/L")
        if iu_l is None:
            return "indeterminate", f"hCG unit {unit!r} is not a UCUM unit of IU per volume"
        comparator = q.get("comparator")
        low, high = limits.hcg_negative_below_iu_l, limits.hcg_positive_from_iu_l
        shown = f"hCG {comparator or ''}{q['value']:g} {unit}"
        if comparator in ("<", "<=") and iu_l <= low:
            return "negative", shown  # "< 5": below the threshold whatever the true value
        if comparator in (">", ">=") and iu_l >= high:
            return "positive", shown
        if comparator:
            return "indeterminate", f"{shown}: bounded value straddles a threshold"
        if iu_l >= high:
            return "positive", shown
        if iu_l < low:
            return "negative", shown
        return "indeterminate", f"{shown} is between {low:g} and {high:g} IU/L"
    return None


_POSITIVE_TEXT = {"positive", "pos", "detected", "pregnant", "reactive"}
_NEGATIVE_TEXT = {
    "negative",
    "neg",
    "not detected",
    "not pregnant",
    "nonreactive",
    "non-reactive",
    "none detected",
}


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("|", " ").split()).strip(" .")


def _text_answer(text: str) -> tuple[Answer, str] | None:
    # Whole-answer matches only: "negative for X, positive for Y" or "possible pregnancy" stay unread.
    if text in _POSITIVE_TEXT:
        return "positive", text
    if text in _NEGATIVE_TEXT:
        return "negative", text
    return None


def pregnancy(
    idx: ObservationIndex,
    vs: ValueSets,
    conditions: list[ConditionFact],
    patient: PatientFact,
    as_of: date,
    settings: Settings,
) -> PregnancyFact:
    """Pregnant: a positive result within the look-back, or a current pregnancy condition (active or
    without status, not abated, onset within observations.pregnancy_condition_max_days or no date at
    all). Unknown (blocking data gap): an indeterminate latest result, a pregnancy-ended/puerperium
    code or an older pregnancy condition not settled by a later negative result."""
    limits = settings.observations
    current = [c for c in conditions if c.status in ("active", "unknown") and c.abatement is None]
    pregnant = [
        c
        for c in current
        if c.valueset == "pregnancy"
        and (c.onset is None or (as_of - c.onset).days <= limits.pregnancy_condition_max_days)
    ]
    review = [
        c
        for c in current
        if c.valueset == "pregnancy-ended" or (c.valueset == "pregnancy" and c not in pregnant)
    ]
    for r in idx.by_vs["pregnancy-status-observation"]:  # newest first
        result = read_pregnancy_result(r, vs, limits)
        if result is None:
            continue
        answer, shown = result
        age = (as_of - r.day).days
        if age > settings.lookback.pregnancy_status_days:
            # Too old to rule pregnancy out; a positive result within a pregnancy's length with
            # nothing after it still means pregnant (the stricter reading).
            if answer == "positive" and age <= limits.pregnancy_condition_max_days:
                return PregnancyFact(evidence=[r.ref], status="pregnant", measured=r.day)
            break
        if answer == "positive":
            return PregnancyFact(evidence=[r.ref], status="pregnant", measured=r.day)
        if answer == "indeterminate":
            if pregnant:
                break  # a current pregnancy condition decides
            return PregnancyFact(
                evidence=[r.ref],
                status="unknown",
                measured=r.day,
                reason=f"The latest pregnancy test cannot be read as negative: {shown}.",
            )
        if not pregnant and not [c for c in review if c.onset and c.onset > r.day]:
            return PregnancyFact(evidence=[r.ref], status="not-pregnant", measured=r.day)
        break
    if pregnant:
        dated = [c.onset for c in pregnant if c.onset is not None]
        return PregnancyFact(
            evidence=sorted({c.evidence[0] for c in pregnant}),
            status="pregnant",
            measured=max(dated) if dated else None,
        )
    if review:
        return PregnancyFact(
            evidence=sorted({c.evidence[0] for c in review}),
            status="unknown",
            reason="A recent pregnancy, delivery or puerperium is recorded "
            f"({', '.join(sorted({c.code for c in review}))}) with no later pregnancy test.",
        )
    if not patient.childbearing_potential:
        return PregnancyFact(status="not-applicable")
    return PregnancyFact(
        status="unknown", reason="No pregnancy status or test within 30 days and no pregnancy condition."
    )


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


# C-SSRS screener items by LOINC (S33): what a "yes" means for the pathway (issue 13 item 5).
CSSRS_PASSIVE = {"93246-7": "item 1 (wish to be dead)", "93247-5": "item 2 (thoughts of killing self)"}
CSSRS_INTENT = {
    "93248-3": "item 3 (thought of method)",
    "93249-1": "item 4 (intent)",
    "93250-9": "item 5 (plan with intent)",
}
CSSRS_RECENT_BEHAVIOUR = {"93269-9": "item 6 (behaviour in the past 3 months)"}
CSSRS_LIFETIME_BEHAVIOUR = {"93267-3": "item 6 (behaviour, lifetime)"}
_HISTORY_PREFIX = "Z91.51"  # personal history of suicidal behaviour
_ATTEMPT_PREFIX = "T14.91"  # suicide attempt


def _yes(r: Reading) -> bool:
    answer = r.data.get("valueCodeableConcept") or {}
    codes = {c.get("code") for c in answer.get("coding") or []}
    return bool(codes & LOINC_YES) or r.data.get("valueBoolean") is True


def _loinc(r: Reading) -> set[str]:
    return {str(c.get("code")) for c in (r.data.get("code") or {}).get("coding") or []}


def suicidal_ideation(
    idx: ObservationIndex, conditions: list[ConditionFact], as_of: date, settings: Settings
) -> SuicidalIdeationFact:
    """Acute (the pathway), current (any ideation now) or history only: ideation without intent or
    plan, history codes and lifetime-only behaviour inform a precaution, never the 84 mg pathway."""
    window = settings.suicidal_ideation.lookback_days
    behaviour_window = settings.suicidal_ideation.behaviour_days
    acute: list[tuple[date, str, str]] = []
    current: list[tuple[date, str, str]] = []
    history: list[tuple[date, str, str]] = []
    for c in conditions:
        if c.valueset != "suicidal-ideation":
            continue
        day = c.onset or as_of
        age = (as_of - c.onset).days if c.onset else None
        what = (c.evidence[0], f"{c.display} ({c.code}, {c.onset.isoformat() if c.onset else 'undated'})")
        if c.code.startswith(_HISTORY_PREFIX):
            history.append((day, *what))
        elif c.code.startswith(_ATTEMPT_PREFIX):
            (acute if age is not None and age <= behaviour_window else history).append((day, *what))
        elif c.abatement is None and c.status in ("active", "unknown"):
            recent = age is not None and age <= window
            if recent:
                acute.append((day, *what))
            elif c.status == "active":
                # An active ideation condition is current whatever its onset (the stricter reading
                # for the precaution); only a recent one opens the pathway.
                current.append((day, *what))
    for r in idx.by_vs["cssrs"]:
        if not _yes(r):
            continue
        codes = _loinc(r)
        label = next(
            (
                m[c]
                for m in (CSSRS_INTENT, CSSRS_RECENT_BEHAVIOUR, CSSRS_PASSIVE, CSSRS_LIFETIME_BEHAVIOUR)
                for c in codes
                if c in m
            ),
            "C-SSRS answer",
        )
        what = (r.ref, f"C-SSRS {label} yes on {r.day.isoformat()}")
        recent = (as_of - r.day).days <= window
        if codes & (CSSRS_INTENT.keys() | CSSRS_RECENT_BEHAVIOUR.keys()) and recent:
            acute.append((r.day, *what))
        elif codes & CSSRS_LIFETIME_BEHAVIOUR.keys():
            history.append((r.day, *what))
        elif recent:
            current.append((r.day, *what))  # passive ideation or an unplaced C-SSRS yes
    chosen = acute or current or history
    latest_screen = max((r.day for r in idx.by_vs["cssrs"]), default=None)
    screen = _status(latest_screen, as_of, window)
    if not chosen:
        return SuicidalIdeationFact(current=False, acute=False, history=False, screen_status=screen)
    chosen.sort()
    return SuicidalIdeationFact(
        evidence=sorted({h[1] for h in chosen}),
        current=bool(acute or current),
        acute=bool(acute),
        history=bool(history),
        basis=chosen[-1][2],
        recorded=chosen[-1][0],
        screen_status=screen,
    )


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
