"""Each worker assesses an empty record before its first call and freezes what it loaded out of the
garbage collector's way; a knowledge base that does not load is logged, not fatal."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from cds.service.app import GC_YOUNG_THRESHOLD, warm_up


@pytest.fixture(autouse=True)
def _unfreeze() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[dict[str, Any]], str]] = []
        self.fail = fail

    def evaluate(self, resources: list[dict[str, Any]], *, profile: Any) -> Any:
        self.calls.append((resources, profile))
        if self.fail:
            raise RuntimeError("rules do not load")

    def ruleset_version(self) -> str:
        return "test"


def test_warm_up_assesses_once_in_the_service_profile_and_freezes() -> None:
    engine = _Recorder()
    warm_up(engine, "eu-smpc")
    assert [(r[0]["resourceType"], p) for r, p in engine.calls] == [("Patient", "eu-smpc")]
    assert gc.get_freeze_count() > 0
    # Young collections every GC_YOUNG_THRESHOLD allocations, not every 700; the older ones as before.
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)


def test_a_failing_warm_up_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    warm_up(_Recorder(fail=True), "us-fda")
    assert "warm-up assessment failed: RuntimeError" in caplog.text
    assert gc.get_freeze_count() > 0


def test_the_real_engine_warms_up_on_an_empty_record(caplog: pytest.LogCaptureFixture) -> None:
    from cds.service.hooks import CoreEngine

    warm_up(CoreEngine(), "us-fda")
    assert "warm-up assessment failed" not in caplog.text  # the whole path imports and runs
    assert gc.get_freeze_count() > 0
