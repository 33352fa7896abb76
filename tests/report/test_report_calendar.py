"""Dosing calendar dates (no browser)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pytest

from cds.contract.assessment import ScheduleStep
from cds.report.calendar import WeekPlan, build_calendar, parse_per_week, parse_weeks

from .cases import AS_OF, ESKETAMINE_DOSING, KETAMINE_DOSING


def _dates(weeks: Sequence[WeekPlan]) -> list[tuple[int, date, str]]:
    return [(s.number, s.day, s.dose) for wk in weeks for s in wk.sessions]


def test_esketamine_twice_weekly_then_weekly_from_the_evaluation_date() -> None:
    cal = build_calendar(ESKETAMINE_DOSING, AS_OF)  # 2025-06-02 is a Monday
    sessions = _dates(cal.weeks)
    assert [d for _, d, _ in sessions] == [
        date(2025, 6, 2), date(2025, 6, 5),    # week 1: days 1 and 4
        date(2025, 6, 9), date(2025, 6, 12),
        date(2025, 6, 16), date(2025, 6, 19),
        date(2025, 6, 23), date(2025, 6, 26),  # week 4
        date(2025, 6, 30), date(2025, 7, 7), date(2025, 7, 14), date(2025, 7, 21),  # weeks 5-8 weekly
    ]  # fmt: skip
    assert [n for n, _, _ in sessions] == list(range(1, 13))
    # Day 1 is the label's start dose; later sessions titrate within the range.
    assert sessions[0][2] == "56 mg"
    assert {dose for _, _, dose in sessions[1:]} == {"56 or 84 mg"}
    # Week 9 onward is not dated (its frequency is the clinician's choice) but is kept as text.
    assert [s.weeks for s in cal.later] == ["9+"]


def test_iv_ketamine_six_infusions_over_three_weeks_then_none() -> None:
    cal = build_calendar(KETAMINE_DOSING, AS_OF)
    sessions = _dates(cal.weeks)
    assert [d for _, d, _ in sessions] == [
        date(2025, 6, 2), date(2025, 6, 5), date(2025, 6, 9),
        date(2025, 6, 12), date(2025, 6, 16), date(2025, 6, 19),
    ]  # fmt: skip
    assert sessions[0][2] == "34 mg over 40 min"
    assert [wk.phase for wk in cal.weeks[3:]] == [None] * 5


def test_count_is_spread_within_the_frequency_range_and_never_exceeded() -> None:
    five = KETAMINE_DOSING.model_copy(
        update={
            "schedule": [ScheduleStep(phase="induction", weeks="1-2", frequency="2-3 times weekly", count=5)]
        }
    )
    per_week = [len(wk.sessions) for wk in build_calendar(five, AS_OF).weeks]
    assert per_week == [3, 2, 0, 0, 0, 0, 0, 0]
    days = [s.day for wk in build_calendar(five, AS_OF).weeks for s in wk.sessions]
    assert days[:3] == [date(2025, 6, 2), date(2025, 6, 4), date(2025, 6, 6)]  # 3 a week: days 1, 3, 5


def test_a_frequency_that_needs_a_choice_gets_no_dates() -> None:
    vague = ESKETAMINE_DOSING.model_copy(
        update={
            "schedule": [ScheduleStep(phase="maintenance", weeks="1-8", frequency="every 2 weeks or weekly")]
        }
    )
    cal = build_calendar(vague, AS_OF)
    assert all(not wk.dated and not wk.sessions for wk in cal.weeks)
    assert cal.weeks[0].frequency == "every 2 weeks or weekly"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1-4", (1, 4)), ("5–8", (5, 8)), ("9+", (9, 9)), ("3", (3, 3)), ("4-1", None), ("ongoing", None)],
)
def test_parse_weeks(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_weeks(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("twice weekly", (2, 2)),
        ("weekly", (1, 1)),
        ("Once weekly", (1, 1)),
        ("2-3 times weekly", (2, 3)),
        ("3 times a week", (3, 3)),
        ("every 2 weeks or weekly", None),
        ("5 times weekly", None),  # no safe day pattern for it: not dated
    ],
)
def test_parse_per_week(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_per_week(text) == expected
