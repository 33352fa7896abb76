"""Dosing calendar: the dated sessions of the first weeks of a product's schedule.

The assessment gives the schedule as text steps ("weeks 1-4, twice weekly"); a clinician
booking sessions wants dates. Week 1 day 1 is the evaluation date, so the calendar shows
what the plan would look like if treatment started on the day the assessment was made.
A step whose weeks or frequency cannot be read safely gets no dates (its text is still
shown): a wrong date in a printed plan is worse than none.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, timedelta

from cds.contract.assessment import EsketamineDosing, KetamineIvDosing, ScheduleStep

HORIZON_WEEKS = 8

# Day offsets inside a week for n sessions: twice weekly is days 1 and 4 (label practice),
# three times weekly days 1, 3 and 5, so sessions are never on consecutive days.
_WEEKDAY_OFFSETS: dict[int, tuple[int, ...]] = {1: (0,), 2: (0, 3), 3: (0, 2, 4)}

_WORD_COUNTS = {"once": 1, "twice": 2, "three times": 3}
_RANGE = re.compile(r"^(\d+)\s*[-–]\s*(\d+)$")
_OPEN = re.compile(r"^(\d+)\s*\+$")
_SINGLE = re.compile(r"^(\d+)$")
_TIMES = re.compile(r"^(\d+)(?:\s*[-–]\s*(\d+))?\s+times\s+(?:a\s+|per\s+)?week(?:ly)?$")


@dataclass(frozen=True)
class Session:
    number: int  # 1-based over the whole calendar
    day: date
    dose: str


@dataclass(frozen=True)
class WeekPlan:
    week: int  # 1-based
    start: date
    phase: str | None  # None: no schedule step covers this week
    frequency: str | None
    sessions: tuple[Session, ...]
    dated: bool  # False: a step covers the week but its frequency could not be turned into dates


@dataclass(frozen=True)
class Calendar:
    weeks: tuple[WeekPlan, ...]
    later: tuple[ScheduleStep, ...]  # steps starting after the horizon, shown as text


def parse_weeks(text: str, horizon: int = HORIZON_WEEKS) -> tuple[int, int] | None:
    """'1-4' -> (1, 4); '9+' -> (9, max(9, horizon)); '5' -> (5, 5); anything else -> None."""
    t = text.strip()
    if m := _RANGE.match(t):
        first, last = int(m.group(1)), int(m.group(2))
        return (first, last) if 1 <= first <= last else None
    if m := _OPEN.match(t):
        first = int(m.group(1))
        return (first, max(first, horizon)) if first >= 1 else None
    if m := _SINGLE.match(t):
        week = int(m.group(1))
        return (week, week) if week >= 1 else None
    return None


def parse_per_week(text: str) -> tuple[int, int] | None:
    """Sessions per week as (fewest, most): 'twice weekly' -> (2, 2), '2-3 times weekly' -> (2, 3).

    None for anything that is not a plain weekly count, e.g. 'every 2 weeks or weekly', where
    choosing for the clinician would be a guess.
    """
    t = " ".join(text.lower().split())
    if t in ("weekly", "once weekly", "once a week"):
        return (1, 1)
    for word, n in _WORD_COUNTS.items():
        if t in (f"{word} weekly", f"{word} a week"):
            return (n, n)
    if m := _TIMES.match(t):
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if 1 <= lo <= hi and hi in _WEEKDAY_OFFSETS:
            return (lo, hi)
    return None


def _format_mg(values: list[float]) -> str:
    return " or ".join(f"{v:g}" for v in values) + " mg"


def _esketamine_doses(dosing: EsketamineDosing, step: ScheduleStep, first: bool) -> str:
    # The label fixes the first dose (start_dose_mg, profile-dependent); later sessions
    # titrate within the step's range.
    if first:
        return f"{dosing.start_dose_mg:g} mg"
    return _format_mg(step.dose_mg) if step.dose_mg else f"{dosing.start_dose_mg:g} mg"


def build_calendar(
    dosing: EsketamineDosing | KetamineIvDosing, start: date, horizon: int = HORIZON_WEEKS
) -> Calendar:
    weeks: list[WeekPlan] = []
    later: list[ScheduleStep] = []
    by_week: dict[int, tuple[int, int, int]] = {}  # week -> (step index, first week, last week)
    for index, step in enumerate(dosing.schedule):
        span = parse_weeks(step.weeks, horizon)
        if span is None:
            later.append(step)  # unreadable weeks: keep the text, never guess the dates
            continue
        if span[0] > horizon:
            later.append(step)
            continue
        for w in range(span[0], min(span[1], horizon) + 1):
            by_week.setdefault(w, (index, span[0], span[1]))

    number = 0
    # Steps with a session count (IV ketamine: "6 infusions over weeks 1-3") stop there.
    given: dict[int, int] = {}
    for w in range(1, horizon + 1):
        week_start = start + timedelta(weeks=w - 1)
        if w not in by_week:
            weeks.append(WeekPlan(w, week_start, None, None, (), True))
            continue
        index, first_week, last_week = by_week[w]
        step = dosing.schedule[index]
        per_week = parse_per_week(step.frequency)
        if per_week is None:
            weeks.append(WeekPlan(w, week_start, step.phase, step.frequency, (), False))
            continue
        lo, hi = per_week
        n = lo
        if step.count is not None:
            # Spread the count over the step's weeks, within the stated frequency range.
            n = min(hi, max(lo, math.ceil(step.count / (last_week - first_week + 1))))
            n = min(n, step.count - given.get(index, 0))
        sessions: list[Session] = []
        for offset in _WEEKDAY_OFFSETS[n] if n > 0 else ():
            number += 1
            if isinstance(dosing, EsketamineDosing):
                dose = _esketamine_doses(dosing, step, number == 1)
            else:
                dose = f"{dosing.dose_mg:g} mg over {dosing.infusion_minutes} min"
            sessions.append(Session(number, week_start + timedelta(days=offset), dose))
        given[index] = given.get(index, 0) + len(sessions)
        weeks.append(WeekPlan(w, week_start, step.phase, step.frequency, tuple(sessions), True))
    return Calendar(tuple(weeks), tuple(later))
