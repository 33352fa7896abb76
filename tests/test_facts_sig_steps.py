"""Multi-step free-text sigs (titrations, tapers): each step's dose and length, dated from the
order's start, the last open step running to the order's end; anything else gives no dose."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds.facts import intake
from cds.facts.dose import daily_dose, sig_steps
from tests.test_facts_medication_shapes import SERTRALINE, facts, order, patient

AS_OF = date(2025, 6, 2)


def _read(text: str, strength: float | None = None) -> list[tuple[float | None, float | None]]:
    """(mg/day, days) per step."""
    found = sig_steps(text)
    assert found is not None, text
    return [(daily_dose({"text": s.text}, strength, where="x").low, s.days) for s in found]


@pytest.mark.parametrize(
    ("text", "strength", "expected"),
    [
        ("Take 50 mg daily for 7 days, then 100 mg daily", None, [(50, 7), (100, None)]),
        ("1 tab daily x 1 week then 2 tabs daily", 25, [(25, 7), (50, None)]),
        (
            "take 25 mg at bedtime for 2 weeks then increase to 50 mg at bedtime",
            None,
            [(25, 14), (50, None)],
        ),
        ("150 mg daily for 14 days, then 75 mg daily for 7 days, then stop", None, [(150, 14), (75, 7)]),
        (
            "Take 1 tablet (37.5 mg total) by mouth daily for 7 days. Then take 2 tablets (75 mg total) "
            "by mouth daily.",
            None,
            [(37.5, 7), (75, None)],
        ),
        # A step that names no frequency does not take the one before's ("then 100 mg" may be 100 mg
        # a day, or a dose given twice): that step's daily dose cannot be told.
        ("50 mg daily x7d then 100 mg", None, [(50, 7), (None, None)]),
        ("25 mg twice daily for 1 week then 50 mg", None, [(50, 7), (None, None)]),
        ("Take 1/2 tablet daily for one week, then 1 tablet daily", 50, [(25, 7), (50, None)]),
        ("37.5 mg twice daily for 2 weeks, then decrease to 37.5 mg daily", None, [(75, 14), (37.5, None)]),
    ],
)
def test_a_titration_or_taper_sig_reads_as_steps(
    text: str, strength: float | None, expected: list[tuple[float, float | None]]
) -> None:
    assert _read(text, strength) == expected


@pytest.mark.parametrize(
    "text",
    [
        "150 mg daily",  # one step: read by the single-step reader, not here
        "Take 50 mg daily, then 100 mg daily",  # the first step's length is not stated
        "50 mg daily for 7 days then increase by 25 mg weekly",  # relative change
        "Take 40 mg daily, taper by 10 mg every week",
        "50 mg daily for 7 days then 100 mg daily as needed",
        "50 mg daily for 7-14 days then 100 mg daily",  # a range of days
        "50 mg daily for 7 days then 100 mg daily for 7-14 days",
        "50 mg daily for 7 days then 100 mg daily until follow-up",  # conditional end
        "50 mg daily for 1 week then stop then 100 mg daily",  # stop before the end
        "50 mg daily for 7 days then 100 mg or 150 mg daily",  # two amounts
        "50 mg daily for 7 days then as directed",  # no amount
        "50 mg daily for 7 days then 100 mg daily if tolerated",  # conditional steps
        "50 mg daily for 7 days then 100 mg daily as tolerated",
        "50 mg daily for 7 days then 100 mg daily or as directed",
        "75 mg daily for 1 week then 150 mg daily unless side effects",
        "sertraline 50 mg daily for 7 days then may take 200 mg daily",  # optional
        "50 mg daily for 7 days then up to 100 mg daily",  # a ceiling
        "50 mg daily for 7 days then 100 mg daily max",
        "50 mg daily for 7 days then target 100 mg daily",
        "50 mg daily for 7 days then consider 100 mg daily",
        "50 mg daily for 7 days then 100 mg daily as able",
        "50 mg daily for 7 days then 100 mg daily based on response",
        "50 mg daily for 7 days then 100 mg daily per response",
        "50 mg daily for 7 days then 100 mg daily pending labs",
        "50 mg daily for 7 days then 100 mg daily once stable",
        "50 mg daily for 7 days then 100 mg daily as instructed",
        "then stop",
        "alternate 50 mg and 100 mg daily for 7 days then 100 mg daily",
    ],
)
def test_a_sig_not_read_with_confidence_gives_no_steps(text: str) -> None:
    assert sig_steps(text) is None


def _order(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "status": extra.pop("status", "stopped"),
        "intent": "order",
        "authoredOn": "2025-01-02",
        "dispenseRequest": {"validityPeriod": {"start": "2025-01-02", "end": "2025-04-02"}},
        "dosageInstruction": [{"text": text, **extra}],
    }


def _steps(data: dict[str, Any]) -> list[tuple[date | None, date | None, float | None]]:
    out = []
    for step in intake.steps("MedicationRequest", data, AS_OF, "x", 7):
        [d] = step.dosages
        out.append((step.start, step.end, daily_dose(d, None, where="x").low))
    return out


def test_each_step_starts_where_the_previous_ended_and_the_open_last_step_runs_to_the_order_end() -> None:
    data = _order("Take 50 mg daily for 7 days, then 100 mg daily")
    assert _steps(data) == [
        (date(2025, 1, 2), date(2025, 1, 9), 50),
        (date(2025, 1, 9), date(2025, 4, 2), 100),
    ]


def test_a_sig_that_stops_ends_with_its_last_step_not_the_order() -> None:
    data = _order("150 mg daily for 14 days, then 75 mg daily for 7 days, then stop", status="active")
    steps = intake.steps("MedicationRequest", data, AS_OF, "x", 7)
    assert [(s.start, s.end, s.ongoing) for s in steps] == [
        (date(2025, 1, 2), date(2025, 1, 16), False),
        (date(2025, 1, 16), date(2025, 1, 23), False),
    ]


def test_a_structured_frequency_fills_steps_that_name_none_and_a_disagreeing_one_blocks_the_split() -> None:
    qd = {"timing": {"code": {"coding": [{"code": "QD"}]}}}
    assert [s[2] for s in _steps(_order("50 mg for 7 days, then 100 mg", **qd))] == [50, 100]
    bid = {"timing": {"code": {"coding": [{"code": "BID"}]}}}
    [only] = _steps(_order("50 mg daily for 7 days, then 100 mg daily", **bid))
    assert only[2] is None  # one unsplit dosage: no dose


def test_a_structured_dose_or_bounds_are_not_overridden_by_the_sig() -> None:
    data = _order("Take 50 mg daily for 7 days, then 100 mg daily")
    data["dosageInstruction"][0]["doseAndRate"] = [{"doseQuantity": {"value": 75, "unit": "mg"}}]
    data["dosageInstruction"][0]["timing"] = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}
    assert [s[2] for s in _steps(data)] == [75]


def test_a_titration_held_at_the_adequate_dose_only_two_weeks_is_not_an_adequate_trial() -> None:
    p = patient()
    order(
        p,
        "r1",
        SERTRALINE,
        [{"text": "25 mg daily for 8 weeks, then 100 mg daily for 2 weeks, then stop"}],
        status="stopped",
        authoredOn="2025-01-02",
        dispenseRequest={"validityPeriod": {"start": "2025-01-02", "end": "2025-06-01"}},
        statusReason={"text": "no response"},
    )
    [trial] = facts(p).trials
    assert trial.daily_dose_mg == 100 and trial.end == date(2025, 3, 13)
    assert trial.weeks_at_adequate_dose == 2 and trial.adequate is False and trial.counts_as_failed is False
