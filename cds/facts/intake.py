"""When a medication was taken, as a clinician reads the record: one step per dosage-instruction
period (a taper or titration is several steps), each with its own dates and dosages.

Where the dates come from, in order:
- `Dosage.timing.repeat.boundsPeriod` / `boundsDuration`: the intake period (how Epic and US Core
  carry start and stop). Steps are ordered by `sequence`; dosages sharing a sequence are taken
  together; a `boundsDuration` step starts where the previous one ended (or at the record's start).
- MedicationStatement / MedicationAdministration `effective[x]`: the record's own period.
- MedicationRequest `dispenseRequest.validityPeriod`, then `expectedSupplyDuration` × (1 + refills)
  from `authoredOn`: what was authorised, not taken, so only when no dosage has bounds.
- MedicationDispense `whenHandedOver` + `daysSupply`: the supply; it is current while the supply,
  plus the refill gap tolerance, covers the evaluation date.

A record whose only dosage is a free-text sig of several steps ("50 mg daily for 7 days, then
100 mg daily", read by cds/facts/dose.py `sig_steps`) is read as that many sequenced dosages, each
lasting its stated length from where the previous ended (the first from the record's start); a
last step without a length runs to the record's end, as an open last dosage does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cds.errors import InputError
from cds.facts.dose import per_day_range, sig_steps, sig_text
from cds.facts.fhirdata import parse_date, period_end, period_start

_UCUM = "http://unitsofmeasure.org"
# Taken on the evaluation date. "on-hold" is not: the end of a paused course is unknown.
ONGOING_STATUS = {"active", "in-progress"}
_DAYS = {
    "d": 1.0,
    "day": 1.0,
    "days": 1.0,
    "wk": 7.0,
    "week": 7.0,
    "weeks": 7.0,
    "mo": 30.0,
    "month": 30.0,
    "months": 30.0,
    "a": 365.0,
    "year": 365.0,
    "years": 365.0,
    "h": 1 / 24,
    "hour": 1 / 24,
    "hours": 1 / 24,
}


@dataclass(frozen=True)
class Step:
    start: date | None
    end: date | None  # None: unknown, or ongoing
    ongoing: bool
    dosages: tuple[dict[str, Any], ...]


def duration_days(q: object, *, default_unit: str | None = None) -> float | None:
    """A FHIR Duration as days; None when absent, not positive or in an unknown unit."""
    if not isinstance(q, dict) or not isinstance(q.get("value"), int | float) or q["value"] <= 0:
        return None
    unit = str(q.get("code") or q.get("unit") or default_unit or "").strip().lower()
    return float(q["value"]) * _DAYS[unit] if unit in _DAYS else None


def dosages(data: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("dosageInstruction", "dosage"):
        value = data.get(key)
        if isinstance(value, list):
            return [d for d in value if isinstance(d, dict)]
        if isinstance(value, dict):  # MedicationAdministration.dosage is a single element
            return [_admin_dosage(value)]
    return []


def _admin_dosage(d: dict[str, Any]) -> dict[str, Any]:
    return {"doseAndRate": [{"doseQuantity": d["dose"]}], "text": "once"} if d.get("dose") else {}


def _bounds(d: dict[str, Any]) -> dict[str, Any]:
    rep = (d.get("timing") or {}).get("repeat") or {}
    return rep if isinstance(rep, dict) else {}


def has_bounds(ds: list[dict[str, Any]]) -> bool:
    return any("boundsPeriod" in _bounds(d) or "boundsDuration" in _bounds(d) for d in ds)


def split_sig(ds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The record's dosages with a multi-step free-text sig written out as one sequenced dosage per
    step (`boundsDuration` for a step with a length). Only a record whose single dosage has no
    structured dose and no bounds is split: a structured dose or bounds already say what was taken.
    Unchanged when the sig is not read with confidence (its dose then stays unknown)."""
    if len(ds) != 1:
        return ds
    d = ds[0]
    if d.get("doseAndRate") or has_bounds(ds) or d.get("asNeededBoolean") or d.get("asNeededCodeableConcept"):
        return ds
    found = sig_steps(sig_text(d))
    if not found:
        return ds
    timing: dict[str, Any] = d["timing"] if isinstance(d.get("timing"), dict) else {}
    repeat_in: dict[str, Any] = timing["repeat"] if isinstance(timing.get("repeat"), dict) else {}
    structured = {k: v for k, v in repeat_in.items() if not k.startswith("bounds")}
    structured_timing = {**({"code": timing["code"]} if timing.get("code") else {}), "repeat": structured}
    # A structured frequency that disagrees with a step's own words: which one was meant is unknown.
    fixed = per_day_range({"timing": structured_timing}) if (structured or timing.get("code")) else None
    rest = {k: v for k, v in d.items() if k not in ("text", "patientInstruction", "timing", "sequence")}
    out: list[dict[str, Any]] = []
    for i, step in enumerate(found, start=1):
        own = per_day_range({"text": step.text})
        if fixed is not None and own is not None and own != fixed:
            return ds
        bounds = {"boundsDuration": {"value": step.days, "unit": "d", "system": _UCUM, "code": "d"}}
        repeat = {**(structured if own is None else {}), **(bounds if step.days is not None else {})}
        step_timing: dict[str, Any] = {"repeat": repeat}
        if own is None and timing.get("code"):
            step_timing["code"] = timing["code"]
        out.append({**rest, "sequence": i, "text": step.text, "timing": step_timing})
    return out


def _groups(ds: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Dosages taken together, in order: by `sequence`; without sequences, each bounded dosage is
    its own step (ordered by its start) and unbounded ones are taken together."""
    if not ds:
        return [[]]
    if any(isinstance(d.get("sequence"), int) for d in ds):
        seqs: dict[int, list[dict[str, Any]]] = {}
        for i, d in enumerate(ds):
            seq = d.get("sequence")
            seqs.setdefault(seq if isinstance(seq, int) else 10**6 + i, []).append(d)
        return [seqs[k] for k in sorted(seqs)]
    if has_bounds(ds) and len(ds) > 1:

        def key(d: dict[str, Any]) -> str:
            bp = _bounds(d).get("boundsPeriod") or {}
            return str(bp.get("start") or "")

        return [[d] for d in sorted(ds, key=key)]
    return [ds]


def _record_period(res_type: str, data: dict[str, Any], where: str) -> tuple[date | None, date | None]:
    """(anchor start, end) from the record itself, without dosage bounds."""
    if res_type in ("MedicationStatement", "MedicationAdministration"):
        start = period_start(data, "effectivePeriod", where=where) or parse_date(
            data.get("effectiveDateTime"), where=where, field="effectiveDateTime"
        )
        end = period_end(data, "effectivePeriod", where=where)
        if res_type == "MedicationAdministration":
            end = end or start
        return start, end
    if res_type == "MedicationDispense":
        start = parse_date(
            data.get("whenHandedOver") or data.get("whenPrepared"), where=where, field="whenHandedOver"
        )
        days = duration_days(data.get("daysSupply"), default_unit="d")
        return start, (start + timedelta(days=days) if start and days else None)
    return parse_date(data.get("authoredOn"), where=where, field="authoredOn"), None


def _authorised_period(data: dict[str, Any], where: str) -> tuple[date | None, date | None]:
    disp = data.get("dispenseRequest") or {}
    start = period_start(disp, "validityPeriod", where=where) or parse_date(
        data.get("authoredOn"), where=where, field="authoredOn"
    )
    end = period_end(disp, "validityPeriod", where=where)
    supply = duration_days(disp.get("expectedSupplyDuration"), default_unit="d")
    if end is None and start and supply:
        repeats = disp.get("numberOfRepeatsAllowed")
        repeats = repeats if isinstance(repeats, int) and repeats > 0 else 0
        end = start + timedelta(days=supply * (repeats + 1))
    return start, end


def steps(res_type: str, data: dict[str, Any], as_of: date, where: str, grace_days: int) -> list[Step]:
    """The intake steps of one medication record, clipped to the evaluation date. Steps that start
    after the evaluation date are left out."""
    ds = dosages(data)
    status = data.get("status")
    bounded = has_bounds(ds)  # before a sig's steps get their lengths: the record's own dates anchor them
    ds = split_sig(ds)
    anchor, record_end = _record_period(res_type, data, where)
    if res_type == "MedicationRequest" and not bounded:
        anchor, record_end = _authorised_period(data, where)
    raw: list[tuple[date | None, date | None, list[dict[str, Any]]]] = []
    cursor = anchor
    for group in _groups(ds):
        rep = _bounds(group[0]) if group else {}
        start: date | None
        end: date | None
        if isinstance(rep.get("boundsPeriod"), dict):
            start = period_start(rep, "boundsPeriod", where=where) or cursor
            end = period_end(rep, "boundsPeriod", where=where)
        elif "boundsDuration" in rep:
            days = duration_days(rep.get("boundsDuration"))
            start = cursor
            end = start + timedelta(days=days) if start and days else None
        else:
            start, end = cursor, None
        raw.append((start, end, group))
        cursor = end
    # The record's own end closes a last step the bounds leave open.
    if raw and raw[-1][1] is None and record_end is not None:
        last = raw[-1]
        raw[-1] = (last[0], record_end, last[2])
    out: list[Step] = []
    for start, end, group in raw:
        if start is not None and end is not None and end < start:
            raise InputError(f"period ends ({end}) before it starts ({start})", location=where)
        if start is not None and start > as_of:
            continue
        if res_type == "MedicationDispense":
            # Current while the supply (with the refill gap tolerance) covers the evaluation date.
            ongoing = start is not None and end is not None and as_of <= end + timedelta(days=grace_days)
            ongoing = ongoing and status not in ("stopped", "on-hold")
        else:
            ongoing = status in ONGOING_STATUS and (end is None or end >= as_of)
        if ongoing:
            end = None
        elif end is not None and end > as_of:
            end = as_of
        out.append(Step(start, end, ongoing, tuple(group)))
    return out
