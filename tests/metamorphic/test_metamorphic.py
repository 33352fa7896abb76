"""Every example patient × every transformation in tests/metamorphic/transforms/ (see harness.py)."""

from __future__ import annotations

import functools

import pytest

from tests.metamorphic.harness import Changing, Preserving, example_names, load_example, run, signature
from tests.metamorphic.transforms import discover

PRESERVING, CHANGING = discover()
PROFILES = ("us-fda", "eu-smpc")


@functools.cache
def baseline(patient: str, profile: str):  # type: ignore[no-untyped-def]
    return run(load_example(patient), profile)


def _preserving_cases() -> list[tuple[str, Preserving]]:
    return [(p, t) for t in PRESERVING for p in example_names() if not t.patients or p in t.patients]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(("patient", "transform"), _preserving_cases(), ids=lambda x: getattr(x, "name", x))
def test_re_encoding_keeps_the_answer(patient: str, transform: Preserving, profile: str) -> None:
    original = load_example(patient)
    changed = transform.apply(original)
    before = signature(baseline(patient, profile))
    after = signature(run(changed, profile))
    assert after == before, f"{transform.name} changed the answer for {patient} ({profile})"


@pytest.mark.parametrize(
    ("patient", "transform"),
    [(p, t) for t in CHANGING for p in t.patients],
    ids=lambda x: getattr(x, "name", x),
)
def test_meaningful_change_changes_the_answer(patient: str, transform: Changing) -> None:
    before = baseline(patient, "us-fda")
    after = run(transform.apply(load_example(patient)), "us-fda")
    transform.expect(before, after)
