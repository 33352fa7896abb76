"""The benchmark runs end to end on tiny sizes (figures are not asserted: targets live in the bench)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_runs_on_tiny_sizes_and_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = orjson.loads(out.read_bytes())
    cases = {r["case"] for r in data["rows"]}
    assert {"assessment: typical patient", "CLI cold start", "cds screen: process pool, 2 workers"} <= cases
    assert any(c.startswith("patient-view") for c in cases)
    for row in data["rows"]:
        if row["floor"]:
            assert row["ratio"] == pytest.approx(row["value"] / row["floor"])
    assert "| case |" in proc.stdout
