"""The assessment's speed at another git revision beside the working tree, in the same run.

    python bench/revisions.py --base f80db5b [--runs 3] [--reps 30] [FILE ...]

A refactoring that should change nothing must not slow anything down; a noisy machine makes two
separate runs incomparable. So both versions run here, interleaved (base, tree, base, tree, ...),
each in its own process on the same record, and the figure compared is the 10th percentile of
per-assessment time (the least disturbed). The base is checked out with `git worktree` into a
temporary folder and removed afterwards. Default record: the 5th largest shared sample."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "fhir-samples"

_TIMER = """
import json, statistics, sys, time
from datetime import date
import orjson
from cds.ingest.load import flatten
from cds.pipeline import evaluate
raw = open(sys.argv[1], "rb").read()
day = date.fromisoformat(sys.argv[2])
evaluate(flatten(orjson.loads(raw), "bench"), as_of=day)
times = []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    evaluate(flatten(orjson.loads(raw), "bench"), as_of=day)
    times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({"p10_ms": times[len(times) // 10] * 1000, "median_ms": statistics.median(times) * 1000}))
"""


def _time(tree: Path, record: Path, reps: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("CDS_HOME", None)
    out = subprocess.run(
        [sys.executable, "-c", _TIMER, str(record), "2026-11-27", str(reps)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", required=True, help="git revision to compare with the working tree")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--max-slowdown", type=float, default=1.10, help="tree p10 / base p10 allowed")
    parser.add_argument("records", nargs="*", type=Path)
    args = parser.parse_args()
    records = args.records or sorted(SAMPLES.glob("*/*.json"), key=lambda p: -p.stat().st_size)[4:5]
    if not records:
        print("no record given and ../shared/fhir-samples is not present", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "-q", "--detach", str(base), args.base], cwd=ROOT, check=True
        )
        try:
            worst = 0.0
            for record in records:
                figures: dict[str, list[float]] = {"base": [], "tree": []}
                for _ in range(args.runs):
                    figures["base"].append(_time(base, record, args.reps)["p10_ms"])
                    figures["tree"].append(_time(ROOT, record, args.reps)["p10_ms"])
                b, t = statistics.median(figures["base"]), statistics.median(figures["tree"])
                worst = max(worst, t / b)
                print(
                    f"{record.name[:60]:<60} base {args.base}: {b:7.2f} ms  tree: {t:7.2f} ms  ratio {t / b:.2f}x"
                )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    met = worst <= args.max_slowdown
    print(f"slowdown target ≤ {args.max_slowdown:.2f}x: {'met' if met else 'NOT met'} (worst {worst:.2f}x)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
