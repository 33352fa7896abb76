"""The screening bench says how busy the rest of the machine was during each run (a shared host:
another user's load stretches wall time, and the row must show it)."""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench_screen() -> object:
    sys.path.insert(0, str(BENCH))
    try:
        import screen

        yield screen
    finally:
        sys.path.remove(str(BENCH))


def test_machine_busy_time_counts_cpu_used_meanwhile(bench_screen: object) -> None:
    before = bench_screen.machine_busy_s()  # type: ignore[attr-defined]
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    assert bench_screen.machine_busy_s() - before >= 0.25  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_screen_run_reports_the_other_load_beside_its_own_cpu(bench_screen: object, tmp_path: Path) -> None:
    import threading

    import population

    export = tmp_path / "export"
    population.write_bulk_export(export, 13, 2, date(2025, 6, 2), 40)
    stop = threading.Event()

    def other_load() -> None:  # another user's work on the machine, outside the run's processes
        while not stop.is_set():
            pass

    busy = threading.Thread(target=other_load, daemon=True)
    busy.start()
    try:
        run = bench_screen.run_screen(sys.executable, export, date(2025, 6, 2), 2, False)  # type: ignore[attr-defined]
    finally:
        stop.set()
        busy.join()
    assert run.cpu_s > 0
    assert run.other_cpu_s >= 0.3  # the spinning thread, for the whole run (about a second or more)
