"""Daily dose in mg from one FHIR Dosage: amount per administration × administrations per day,
with the product strength when the amount is in units (tablets, capsules).

Where the record gives a range (`doseRange`, `frequencyMax`, "1-2 tablets") both ends are kept:
the low end proves adequacy (an antidepressant trial is adequate only if even the smallest dose
the order allowed reaches the minimum), the high end sizes a load where more is worse
(benzodiazepines). Read in this order: `doseAndRate` (the entry in mg first: Epic sends a
"calculated" mg dose beside the "ordered" tablet count), then the sig in `Dosage.text` /
`patientInstruction`; frequency from `timing.repeat` (frequency, period, when, timeOfDay),
`timing.code`, then the text.

A free-text sig of several steps ("50 mg daily for 7 days, then 100 mg daily") is split by
`sig_steps` into one step per dose with its length (cds/facts/intake.py dates them); a sig of
several steps that it cannot read with confidence gives no dose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cds.errors import InputError

_MG = {
    "mg": 1.0,
    "milligram": 1.0,
    "milligrams": 1.0,
    "g": 1000.0,
    "gram": 1000.0,
    "grams": 1000.0,
    "ug": 0.001,
    "mcg": 0.001,
    "µg": 0.001,
    "microgram": 0.001,
    "micrograms": 0.001,
}
_UNIT_DOSE = {
    "tablet",
    "tablets",
    "tab",
    "tabs",
    "{tablet}",
    "{tablets}",
    "{tbl}",
    "{tab}",
    "capsule",
    "capsules",
    "cap",
    "caps",
    "{capsule}",
    "{capsules}",
    "{cap}",
    "1",
    "{unit}",
    "unit",
    "each",
    "ea",
    "spray",
    "{spray}",
    "patch",
    "{patch}",
    "device",
    "{device}",
    "pill",
    "pills",
}
_PER_DAY = {"h": 24.0, "min": 1440.0, "s": 86400.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30, "a": 1 / 365}
# Timing.code: HL7 v3 GTSAbbreviation (the R4 timing-abbreviation value set) plus the bedtime
# and morning forms EHR sigs use. Q<n>H is read generically below.
_TIMING_CODES = {
    "QD": 1.0,
    "QOD": 0.5,
    "BID": 2.0,
    "TID": 3.0,
    "QID": 4.0,
    "AM": 1.0,
    "PM": 1.0,
    "QAM": 1.0,
    "QPM": 1.0,
    "QHS": 1.0,
    "HS": 1.0,
    "BED": 1.0,
    "WK": 1 / 7,
    "QW": 1 / 7,
    "MO": 1 / 30,
}
_Q_HOURS = re.compile(r"^Q(\d+)H$")
# Timing.repeat.when (R4 event-timing): one administration per listed event; the generic meal
# codes (C, AC, PC: "at / before / after meals") mean each of three meals.
_MEAL_CODES = {"C": 3, "AC": 3, "PC": 3}
_TEXT_FREQ: list[tuple[re.Pattern[str], float]] = [
    (re.compile(r"\b((four|4) times (a |per |each )?da(y|ily)|qid)\b", re.I), 4.0),
    (re.compile(r"\b((three|3) times (a |per |each )?da(y|ily)|tid)\b", re.I), 3.0),
    (re.compile(r"\b((twice|two times|2 times) (a |per |each )?da(y|ily)|bid)\b", re.I), 2.0),
    (re.compile(r"\b(every other day|qod|every 48 hours)\b", re.I), 0.5),
    (re.compile(r"\b(once (a|per) week|weekly|every week)\b", re.I), 1 / 7),
    (
        re.compile(
            r"\b(once (a|per|each) day|once daily|daily|qd|qday|every day|each day|a day|per day|"
            r"at bedtime|before bed|nightly|every night|qhs|hs|every morning|each morning|in the morning|"
            r"qam|every evening|in the evening|qpm)\b",
            re.I,
        ),
        1.0,
    ),
]
# "two to three times daily", "1-2 times a day", "once or twice daily": the low end proves a
# trial adequate, so a range is read as one ("three times daily" alone would take its top).
_FREQ_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "once": 1, "twice": 2}
_FREQ_N = r"(\d+|" + "|".join(_FREQ_WORDS) + r")"
_TEXT_FREQ_RANGE = re.compile(
    r"\b" + _FREQ_N + r"\s*(?:-|to|or)\s*" + _FREQ_N + r"\s*(?:times|x)?\s*(?:a |per |each )?da(?:y|ily)\b",
    re.I,
)
# A ceiling ("up to 200 mg daily", "max 3 tablets a day", "not to exceed"): not the dose taken.
_TEXT_MAXIMUM = re.compile(
    r"\b(?:up\s+to|max(?:imum)?|(?:not|do\s+not)\s+(?:to\s+)?exceed|no\s+more\s+than)\b", re.I
)
_TEXT_EVERY_HOURS = re.compile(r"\b(?:every|q)\s*(\d+)\s*(?:hours?|hrs?|h)\b", re.I)
_TEXT_PRN = re.compile(r"\b(as needed|prn|if needed|when needed)\b", re.I)
# Several steps in one sig ("50 mg daily for 7 days, then 100 mg"): which dose held how long
# cannot be read from free text.
_TEXT_STEPS = re.compile(
    r"\b(then|increase|increasing|decrease|decreasing|taper|titrate|alternat\w*)\b", re.I
)
_NUM = r"(\d+(?:\.\d+)?|one|two|three|four|half|½|1/2)"
_WORDS = {"one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "half": 0.5, "½": 0.5, "1/2": 0.5}
_TEXT_MG_TOTAL = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg|g)\s+total\b", re.I)
_TEXT_MG = re.compile(
    r"(\d+(?:\.\d+)?)(?:\s*(?:-|to)\s*(\d+(?:\.\d+)?))?\s*(mg|milligrams?|mcg|micrograms?|g)\b(?!/)", re.I
)
_TEXT_UNITS = re.compile(
    _NUM + r"(?:\s*(?:-|to|or)\s*" + _NUM + r")?\s*(tab|tabs|tablets?|caps?|capsules?|pills?)\b", re.I
)
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*MG(?![A-Za-z/])", re.I)


@dataclass(frozen=True)
class DoseReading:
    """mg/day: `low` proves adequacy, `high` bounds a load; both None with `note` when unknown."""

    low: float | None
    high: float | None
    note: str | None = None

    @staticmethod
    def unknown(note: str) -> DoseReading:
        return DoseReading(None, None, note)


def strength_from_text(text: str) -> float | None:
    """'sertraline 50 MG Oral Tablet' -> 50. None when no strength or more than one (combinations)."""
    found = {float(m) for m in _STRENGTH.findall(text or "")}
    return found.pop() if len(found) == 1 else None


def strength_from_medication(med: dict[str, Any] | None) -> float | None:
    """Medication.ingredient[].strength as mg per unit, when exactly one ingredient gives it."""
    if not med:
        return None
    values = []
    for ing in med.get("ingredient") or []:
        ratio = ing.get("strength") if isinstance(ing, dict) else None
        num = (ratio or {}).get("numerator") or {}
        den = (ratio or {}).get("denominator") or {}
        unit = str(num.get("code") or num.get("unit") or "").lower()
        if unit in _MG and isinstance(num.get("value"), int | float) and (den.get("value") in (None, 1)):
            values.append(float(num["value"]) * _MG[unit])
    return values[0] if len(values) == 1 else None


def _number(token: str | None) -> float | None:
    if token is None:
        return None
    token = token.lower()
    return _WORDS[token] if token in _WORDS else float(token)


def sig_text(dosage: dict[str, Any]) -> str:
    timing = dosage.get("timing") or {}
    parts = (dosage.get("text"), dosage.get("patientInstruction"), (timing.get("code") or {}).get("text"))
    return " ".join(str(t) for t in parts if isinstance(t, str))


def per_day_range(dosage: dict[str, Any]) -> tuple[float, float] | None:
    """Administrations per day (low, high); None when PRN or unreadable."""
    if dosage.get("asNeededBoolean") or dosage.get("asNeededCodeableConcept"):
        return None  # PRN: no regular daily dose
    timing = dosage.get("timing") or {}
    rep = timing.get("repeat") or {}
    if rep.get("frequency") is not None or rep.get("period") is not None:
        freq = float(rep.get("frequency") or 1)
        freq_max = float(rep.get("frequencyMax") or freq)
        period = float(rep.get("period") or 1)
        period_max = float(rep.get("periodMax") or period)
        unit = rep.get("periodUnit") or "d"
        if unit not in _PER_DAY or period <= 0 or period_max <= 0:
            return None
        return freq / period_max * _PER_DAY[unit], freq_max / period * _PER_DAY[unit]
    when = [w for w in rep.get("when") or [] if isinstance(w, str)]
    if when:
        n = float(sum(_MEAL_CODES.get(w.upper(), 1) for w in dict.fromkeys(when)))
        return n, n
    times = rep.get("timeOfDay") or []
    if isinstance(times, list) and times:
        return float(len(set(times))), float(len(set(times)))
    for coding in (timing.get("code") or {}).get("coding") or []:
        code = str(coding.get("code") or "").upper()
        if code in _TIMING_CODES:
            return _TIMING_CODES[code], _TIMING_CODES[code]
        q = _Q_HOURS.match(code)
        if q and int(q.group(1)) > 0:
            return 24 / int(q.group(1)), 24 / int(q.group(1))
    return _text_per_day(sig_text(dosage))


def per_day(dosage: dict[str, Any]) -> float | None:
    found = per_day_range(dosage)
    return found[0] if found else None


def _text_per_day(text: str) -> tuple[float, float] | None:
    if not text or _TEXT_PRN.search(text) or _TEXT_MAXIMUM.search(text):
        return None
    span = _TEXT_FREQ_RANGE.search(text)
    if span:
        lo, hi = (_freq_number(g) for g in span.groups())
        if 0 < lo <= hi:
            return lo, hi
        return None
    every = _TEXT_EVERY_HOURS.search(text)
    if every and int(every.group(1)) > 0:
        return 24 / int(every.group(1)), 24 / int(every.group(1))
    for pattern, value in _TEXT_FREQ:
        if pattern.search(text):
            return value, value
    return None


def _freq_number(word: str) -> float:
    return float(word) if word.isdigit() else float(_FREQ_WORDS[word.lower()])


def _to_mg(value: float, unit: str, strength_mg: float | None) -> float | None:
    if unit in _MG:
        return value * _MG[unit]
    if (unit in _UNIT_DOSE or unit == "") and strength_mg is not None:
        return value * strength_mg
    return None


def _amount_from_dose_and_rate(
    dosage: dict[str, Any], strength_mg: float | None, where: str
) -> tuple[float, float] | str | None:
    """mg per administration (low, high), a note why not, or None when no doseAndRate dose."""
    candidates: list[tuple[float, float, str]] = []
    for dr in dosage.get("doseAndRate") or []:
        if not isinstance(dr, dict):
            continue
        if isinstance(dr.get("doseQuantity"), dict):
            q = dr["doseQuantity"]
            value = q.get("value")
            if not isinstance(value, int | float):
                continue
            if value <= 0:
                raise InputError(
                    f"doseAndRate.doseQuantity.value: dose must be positive (got {value})", location=where
                )
            candidates.append((float(value), float(value), _unit(q)))
        elif isinstance(dr.get("doseRange"), dict):
            low, high = dr["doseRange"].get("low") or {}, dr["doseRange"].get("high") or {}
            lo, hi = low.get("value"), high.get("value")
            if not isinstance(lo, int | float) or lo <= 0:
                return "dose range without a positive lower bound"
            hi_v = float(hi) if isinstance(hi, int | float) and hi >= lo else float(lo)
            candidates.append((float(lo), hi_v, _unit(low) or _unit(high)))
    if not candidates:
        return None
    in_mg = [c for c in candidates if c[2] in _MG]
    chosen = in_mg or candidates
    values = {(_to_mg(lo, unit, strength_mg), _to_mg(hi, unit, strength_mg)) for lo, hi, unit in chosen}
    if len(values) > 1:
        return "several doseAndRate entries disagree"
    lo_mg, hi_mg = values.pop()
    if lo_mg is None or hi_mg is None:
        lo, _, unit = chosen[0]
        if unit in _UNIT_DOSE or unit == "":
            return f"dose given as {lo:g} {unit or 'units'} and the product strength is unknown"
        return f"dose unit {unit!r} is not convertible to mg"
    return lo_mg, hi_mg


def _unit(q: dict[str, Any]) -> str:
    return str(q.get("code") or q.get("unit") or "").strip().lower()


def amount_from_text(text: str, strength_mg: float | None) -> tuple[float, float] | str | None:
    """mg per administration from a sig: "150 mg daily", "1 tab BID", "Take 1 tablet (50 mg total)
    by mouth daily", "take 2 tablets at bedtime". None when the text names no amount."""
    if not text:
        return None
    if _TEXT_STEPS.search(text):
        return "the sig describes several steps; record each as its own dosage instruction"
    if _TEXT_MAXIMUM.search(text):
        return "the sig gives a maximum ('up to', 'max'), not the dose taken"
    total = _TEXT_MG_TOTAL.search(text)
    if total:
        v = float(total.group(1)) * _MG[total.group(2).lower()]
        return v, v
    units = _TEXT_UNITS.search(text)
    mg = [(m.group(1), m.group(2), m.group(3).lower()) for m in _TEXT_MG.finditer(text)]
    if units:
        lo, hi = _number(units.group(1)), _number(units.group(2))
        assert lo is not None
        hi = hi if hi is not None and hi >= lo else lo
        # An mg figure beside a tablet count is the strength ("sertraline 50 mg: take 2 tablets").
        strengths = {float(a) * _MG.get(u.rstrip("s"), _MG.get(u, 1.0)) for a, b, u in mg if b is None}
        strength = strengths.pop() if len(strengths) == 1 else strength_mg if not strengths else None
        if strength is None:
            return "tablet count in the sig but the product strength is unknown"
        return lo * strength, hi * strength
    if not mg:
        return None
    if len({(a, b, u) for a, b, u in mg}) > 1:
        return "the sig names several different amounts"
    a, b, u = mg[0]
    factor = _MG.get(u, _MG.get(u.rstrip("s"), 1.0))
    lo_v = float(a) * factor
    hi_v = float(b) * factor if b is not None and float(b) >= float(a) else lo_v
    return lo_v, hi_v


def daily_dose(dosage: dict[str, Any] | None, strength_mg: float | None, *, where: str) -> DoseReading:
    """mg/day (low, high) from one Dosage. Raises InputError on a negative or zero dose."""
    if not dosage:
        return DoseReading.unknown("no dosage instruction")
    amount = _amount_from_dose_and_rate(dosage, strength_mg, where)
    if amount is None:
        amount = amount_from_text(sig_text(dosage), strength_mg)
        if amount is None:
            return DoseReading.unknown("no structured dose (doseAndRate) and no amount in the sig text")
    if isinstance(amount, str):
        return DoseReading.unknown(amount)
    freq = per_day_range(dosage)
    if freq is None:
        return DoseReading.unknown("frequency unknown (no timing.repeat, timing code or readable text)")
    return DoseReading(round(amount[0] * freq[0], 2), round(amount[1] * freq[1], 2))


def daily_dose_mg(
    dosage: dict[str, Any] | None, strength_mg: float | None, *, where: str
) -> tuple[float | None, str | None]:
    """(mg/day at the low end of any range, why unknown)."""
    reading = daily_dose(dosage, strength_mg, where=where)
    return reading.low, reading.note


# ---- multi-step sigs (titrations, tapers) ---------------------------------------------------

# "then" (optionally after a comma, semicolon or full stop, or "and") separates the steps.
_STEP_SPLIT = re.compile(r"\s*(?:[,;.]\s*)?(?:\band\s+)?\bthen\b[\s,]*", re.I)
# What opens a step and says nothing about the dose: "take", "increase to", "then decrease the dose to".
_STEP_LEAD = re.compile(
    r"^(?:(?:take|give|start(?:ing)?|begin|by mouth|orally|po)\s+)*"
    r"(?:(?:increase|decrease|reduce|titrate|go up|go down)\s+(?:the\s+)?(?:dose\s+)?to\s+)?"
    r"(?:take\s+)?",
    re.I,
)
_STEP_STOP = re.compile(
    r"^(?:stop|discontinue|d/c|off)\b(?:\s+(?:taking|the\s+)?(?:medication|medicine|it))?$", re.I
)
_DURATION_WORDS = {
    "a": 1.0,
    "an": 1.0,
    "one": 1.0,
    "two": 2.0,
    "three": 3.0,
    "four": 4.0,
    "five": 5.0,
    "six": 6.0,
}
_DURATION_UNITS = {
    "d": 1.0,
    "day": 1.0,
    "days": 1.0,
    "w": 7.0,
    "wk": 7.0,
    "wks": 7.0,
    "week": 7.0,
    "weeks": 7.0,
}
_STEP_DURATION = re.compile(
    r"\b(?:for(?:\s+the\s+next)?\s+|x\s*|×\s*)(\d+|a|an|one|two|three|four|five|six)\s*"
    r"(d|days?|w|wks?|weeks?)\b",
    re.I,
)
# A step that depends on something ("if tolerated", "as directed", "or 150 mg", "unless", "when",
# "may take", "up to", "target", "once stable"): whether it was taken, or at what dose, cannot be read.
_STEP_CONDITION = re.compile(
    r"\b(?:if|tolerated|directed|instructed|or|unless|when|depending|prn|may|up\s+to|max(?:imum)?|"
    r"target|goal|consider|as\s+able|based\s+on|pending|once\s+stable|"
    r"per\s+(?:response|md|doctor|provider|prescriber|physician|psychiatrist))\b",
    re.I,
)
# Timing words left after the step's own length is taken out: another length, a range of days, a
# start condition. Such a step is not read.
_STEP_OTHER_TIME = re.compile(
    r"\b(?:for|until|after|starting|beginning|on day|x\s*\d|\d+\s*(?:-|to)\s*\d+\s*(?:d|days?|w|wks?|weeks?)|"
    r"\d+\s*(?:d|days?|w|wks?|weeks?|months?|mos?))\b",
    re.I,
)


@dataclass(frozen=True)
class SigStep:
    """One step of a multi-step sig: its own sig and its length in days; None for a last step that
    runs to the order's end. A step naming no frequency is not given the step before's ("25 mg twice
    daily for 1 week then 50 mg" may mean 50 mg a day or 100): it is read as any sig without one."""

    text: str
    days: float | None


def _reads_amount(text: str) -> bool:
    # Strength 1: whether the step names one amount (mg, or a tablet count), not its size.
    return isinstance(amount_from_text(text, 1.0), tuple)


def sig_steps(text: str) -> list[SigStep] | None:
    """The steps of a titration or taper sig: "Take 50 mg daily for 7 days, then 100 mg daily",
    "1 tab daily x 1 week then 2 tabs daily", "25 mg at bedtime for 2 weeks then increase to 50 mg
    at bedtime", "150 mg daily for 14 days, then 75 mg daily for 7 days, then stop".

    None unless every step is read with confidence: each step names one amount; each but an open
    last one states its length (days or weeks); "stop" may only close the sig; no step is relative
    ("increase by 25 mg"), as needed, a range of days or conditional ("if tolerated", "as directed",
    "or"). Single-step sigs are None."""
    if not text or _TEXT_PRN.search(text):
        return None
    parts = [part.strip(" ,;.") for part in _STEP_SPLIT.split(text.strip().rstrip("."))]
    if len(parts) < 2 or not all(parts):
        return None
    stops = parts[-1:] and _STEP_STOP.match(parts[-1]) is not None
    if stops:
        parts = parts[:-1]
    if any(_STEP_STOP.match(part) for part in parts):
        return None
    out: list[SigStep] = []
    for i, part in enumerate(parts):
        durations = list(_STEP_DURATION.finditer(part))
        open_last = i == len(parts) - 1 and not stops
        if len(durations) > 1 or (not durations and not open_last):
            return None
        days: float | None = None
        body = part
        if durations:
            found = durations[0]
            number, unit = found.group(1).lower(), found.group(2).lower()
            days = (
                _DURATION_WORDS[number] if number in _DURATION_WORDS else float(number)
            ) * _DURATION_UNITS[unit]
            if days <= 0:
                return None
            body = (part[: found.start()] + " " + part[found.end() :]).strip(" ,;.")
        body = re.sub(r"\s+", " ", _STEP_LEAD.sub("", body, count=1)).strip(" ,;.")
        if (
            not body
            or _TEXT_STEPS.search(body)
            or _STEP_OTHER_TIME.search(body)
            or _STEP_CONDITION.search(body)
            or not _reads_amount(body)
        ):
            return None
        out.append(SigStep(body, days))
    return out
