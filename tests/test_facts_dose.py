"""Daily dose: doseQuantity × administrations per day, × product strength for unit doses."""

from __future__ import annotations

import pytest

from cds.errors import InputError
from cds.facts.dose import (
    daily_dose,
    daily_dose_mg,
    per_day_range,
    strength_from_medication,
    strength_from_text,
)


def dosage(value: float | None, unit: str = "mg", **timing: object) -> dict:
    d: dict = {"timing": timing or {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}
    if value is not None:
        d["doseAndRate"] = [{"doseQuantity": {"value": value, "unit": unit}}]
    return d


@pytest.mark.parametrize(
    ("d", "strength", "expected"),
    [
        (dosage(150), None, 150),
        (dosage(75, repeat={"frequency": 2, "period": 1, "periodUnit": "d"}), None, 150),
        (dosage(1, "tablet", code={"coding": [{"code": "BID"}]}), 50, 100),
        (dosage(0.5, "g"), None, 500),
        (dosage(10, "mg", repeat={"frequency": 1, "period": 12, "periodUnit": "h"}), None, 20),
        (dosage(20, "mg", repeat={"frequency": 3, "period": 1, "periodUnit": "wk"}), None, round(60 / 7, 2)),
    ],
    ids=[
        "mg-daily",
        "mg-twice-daily",
        "tablet-times-strength",
        "grams",
        "every-12-hours",
        "three-times-weekly",
    ],
)
def test_daily_dose(d: dict, strength: float | None, expected: float) -> None:
    assert daily_dose_mg(d, strength, where="x") == (expected, None)


def test_text_frequency_is_read_when_timing_is_absent() -> None:
    d = {
        "text": "Take 1 tablet by mouth twice daily",
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
    }
    assert daily_dose_mg(d, 20, where="x") == (40, None)


@pytest.mark.parametrize(
    ("d", "strength", "why"),
    [
        (None, None, "no dosage instruction"),
        (dosage(None), None, "no structured dose"),
        (dosage(2, "tablet"), None, "product strength is unknown"),
        (dosage(5, "mL"), None, "not convertible to mg"),
        ({"doseAndRate": [{"doseQuantity": {"value": 50, "unit": "mg"}}]}, None, "frequency unknown"),
        ({**dosage(50), "asNeededBoolean": True}, None, "frequency unknown"),
    ],
    ids=["no-dosage", "no-dose", "units-without-strength", "volume", "no-frequency", "prn"],
)
def test_unknown_dose_says_why(d: dict | None, strength: float | None, why: str) -> None:
    dose, note = daily_dose_mg(d, strength, where="x")
    assert dose is None and note is not None and why in note


def test_negative_dose_is_an_input_error_naming_the_field() -> None:
    with pytest.raises(InputError, match=r"doseQuantity\.value: dose must be positive"):
        daily_dose_mg(dosage(-150), None, where="MedicationStatement/x")


def test_strength_from_rxnorm_display_and_medication_resource() -> None:
    assert strength_from_text("24 HR venlafaxine 150 MG Extended Release Oral Capsule") == 150
    assert strength_from_text("olanzapine 6 MG / fluoxetine 25 MG Oral Capsule") is None  # combination
    med = {
        "ingredient": [{"strength": {"numerator": {"value": 50, "code": "mg"}, "denominator": {"value": 1}}}]
    }
    assert strength_from_medication(med) == 50


@pytest.mark.parametrize(
    ("text", "times"),
    [
        ("10 mg three times daily", 3.0),
        ("10 mg 3 times daily", 3.0),
        ("10 mg four times daily", 4.0),
        ("10 mg two times daily", 2.0),
        ("10 mg twice daily", 2.0),
        ("10 mg three times a day", 3.0),
    ],
)
def test_spelled_out_frequencies_with_daily_are_read(text: str, times: float) -> None:
    """'three times daily' was read as once a day ('daily'), the dose a third of what was ordered."""
    assert per_day_range({"text": text}) == (times, times)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("100 mg two to three times daily", 2.0, 3.0),
        ("100 mg two or three times daily", 2.0, 3.0),
        ("37.5 mg one to two times daily", 1.0, 2.0),
        ("10 mg 2-3 times daily", 2.0, 3.0),
        ("10 mg 1 to 3 times a day", 1.0, 3.0),
        ("10 mg once or twice daily", 1.0, 2.0),
    ],
)
def test_a_range_of_times_a_day_is_read_as_a_range(text: str, low: float, high: float) -> None:
    """Read at its top ('three times daily'), a range overstated the low end of the dose, the figure
    that proves a trial adequate: '37.5 mg one to two times daily' read 75 mg/day at the least."""
    assert per_day_range({"text": text}) == (low, high)


@pytest.mark.parametrize(
    "text",
    [
        "100 mg up to three times daily",
        "up to 200 mg daily",
        "take 1 tablet daily, max 3 tablets per day",
        "sertraline 50-200 mg daily, not to exceed 200 mg",
    ],
)
def test_a_maximum_is_not_a_dose_taken(text: str) -> None:
    """'up to 200 mg daily' is a ceiling: read as 200 mg it could prove an adequate trial."""
    reading = daily_dose({"text": text}, 50.0, where="x")
    assert reading.low is None
