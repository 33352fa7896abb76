"""Measurements that run inside a child process (`python bench/cases.py CASE ARGS-JSON`), so each
has its own peak memory; each prints one JSON object. Every figure comes with its floor, measured
in the same process, interleaved with it."""

from __future__ import annotations

import gc
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson


def _timed(fn: Any, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        gc.collect()  # no collection left over from the previous measurement lands in this one
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def assess(path: str, reps: int, as_of: str, strict: bool = False) -> dict[str, Any]:
    """Bytes → assessment (parse, validate, facts, rules, assessment) beside orjson.loads of the same bytes."""
    from cds.ingest.load import flatten
    from cds.knowledge import default_knowledge
    from cds.pipeline import evaluate

    raw = Path(path).read_bytes()
    day = date.fromisoformat(as_of)
    default_knowledge()  # the knowledge loads and compiles once per process: not part of an assessment

    def one() -> None:
        evaluate(flatten(orjson.loads(raw), "bench"), as_of=day, strict=strict)

    one()
    floors, totals = [], []
    for _ in range(reps):  # interleaved: both see the same machine state
        floors += _timed(lambda: orjson.loads(raw), 1)
        totals += _timed(one, 1)
    resources = len(flatten(orjson.loads(raw), "bench"))
    return {
        "bytes": len(raw),
        "resources": resources,
        "floor_s": statistics.median(floors),
        "median_s": statistics.median(totals),
        "p95_s": sorted(totals)[int(0.95 * (len(totals) - 1))],
    }


def stages(path: str, as_of: str) -> dict[str, Any]:
    """Where an assessment's time goes (one record), median of 9."""
    from cds.assessment.build import build_assessment
    from cds.facts.build import build_facts
    from cds.ingest.load import flatten
    from cds.ingest.validate import select_and_validate
    from cds.knowledge import default_knowledge

    raw = Path(path).read_bytes()
    day = date.fromisoformat(as_of)
    kb = default_knowledge()
    engine = kb.engine("us-fda")
    res = flatten(orjson.loads(raw), "bench")
    used = select_and_validate(res)
    facts = build_facts(used, kb, day)
    all_facts = facts.all()
    firings = engine.evaluate(all_facts, day)

    def med(fn: Any) -> float:
        return statistics.median(_timed(fn, 9))

    return {
        "parse_s": med(lambda: orjson.loads(raw)),
        "validate_fast_s": med(lambda: select_and_validate(res)),
        "validate_strict_s": med(lambda: select_and_validate(res, strict=True)),
        "facts_s": med(lambda: build_facts(used, kb, day)),
        "rules_s": med(lambda: engine.evaluate(all_facts, day)),
        "assessment_s": med(lambda: build_assessment(facts, firings, kb, "us-fda")),
        "facts": len(all_facts),
        "firings": len(firings),
    }


def engine_scaling(as_of: str) -> dict[str, Any]:
    """Rule evaluation time against the number of facts (with and without dropping the facts no
    pattern can match) and against the number of rules. Floor: the same facts serialised once
    with orjson (durable's own input path is JSON)."""
    from cds.engine import RuleEngine
    from cds.knowledge import default_knowledge
    from cds.pipeline import evaluate
    from cds.synthetic import trd_patient

    day = date.fromisoformat(as_of)
    kb = default_knowledge()
    ev = evaluate([e["resource"] for e in trd_patient().bundle()["entry"]], as_of=date(2025, 6, 2))
    base = [{**f.engine_view(date(2025, 6, 2)), "id": f"f{i}"} for i, f in enumerate(ev.facts.all())]
    del day
    rules = kb.ruleset.for_profile("us-fda")
    pruned = RuleEngine(rules, kb.settings, "bench_pruned", prune=True)
    unpruned = RuleEngine(rules, kb.settings, "bench_unpruned", prune=False)
    # Facts no rule can match (a condition in a value set no rule names), and facts some rule reads.
    dead = {
        "kind": "condition",
        "valueset": "bench-unused",
        "code": "X",
        "display": "x",
        "status": "active",
        "verification": "confirmed",
    }
    live = next(v for v in base if v["kind"] == "medication")
    by_facts = []
    for extra in (0, 25, 100, 400):
        for label, template in (("unmatched", dead), ("matched", live)):
            views = base + [{**template, "id": f"x{i:04d}"} for i in range(extra)]
            row = {"facts": len(views), "extra": label}
            for name, engine in (("pruned", pruned), ("unpruned", unpruned)):
                row[f"{name}_s"] = statistics.median(
                    _timed(lambda e=engine, v=views: e.evaluate_views(v), 15)
                )
            row["floor_s"] = statistics.median(_timed(lambda v=views: orjson.dumps(v), 15))
            by_facts.append(row)
    by_rules = []
    ordered = sorted(rules, key=lambda r: r.id)
    for share in (0.25, 0.5, 1.0):
        subset = ordered[: max(1, int(len(ordered) * share))]
        engine = RuleEngine(subset, kb.settings, f"bench_rules_{int(share * 100)}")
        by_rules.append(
            {
                "rules": len(subset),
                "facts": len(base),
                "median_s": statistics.median(_timed(lambda e=engine: e.evaluate_views(base), 25)),
            }
        )
    return {"by_facts": by_facts, "by_rules": by_rules, "kinds_in_rules": sorted(pruned._relevance.kinds)}  # type: ignore[union-attr]


def parse_floor(folder: str) -> dict[str, Any]:
    """orjson.loads of every line of an export, one process: the floor of screening it."""
    t = time.perf_counter()
    lines = 0
    for f in sorted(Path(folder).glob("*.ndjson")):
        with f.open("rb") as fh:
            for line in fh:
                orjson.loads(line)
                lines += 1
    return {"floor_s": time.perf_counter() - t, "lines": lines}


def growth(as_of: str, counts: list[int], reps: int) -> dict[str, Any]:
    """How the assessment grows as a 300-resource chart gains resources of each kind: per kind and
    count, the median CPU of bytes -> assessment beside orjson.loads of the same bytes (interleaved)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import population
    import rich_chart

    from cds.ingest.load import flatten
    from cds.knowledge import default_knowledge
    from cds.pipeline import evaluate

    day = date.fromisoformat(as_of)
    default_knowledge()
    base = population.patient(1, "typical", day, 300)
    out: dict[str, Any] = {}
    for kind in rich_chart.GROWTH_KINDS:
        rows = []
        for n in [0, *counts]:
            raw = orjson.dumps(rich_chart.with_extra(base, kind, n, day))
            evaluate(flatten(orjson.loads(raw), "bench"), as_of=day)
            floors, totals = [], []
            for _ in range(reps):
                floors.append(_cpu(lambda raw=raw: orjson.loads(raw)))
                totals.append(_cpu(lambda raw=raw: evaluate(flatten(orjson.loads(raw), "bench"), as_of=day)))
            rows.append(
                {"added": n, "floor_s": statistics.median(floors), "total_s": statistics.median(totals)}
            )
        out[kind] = rows
    return out


def _cpu(fn: Any) -> float:
    """CPU seconds of one call (not wall time: other load on the machine does not inflate it)."""
    gc.collect()
    t = time.process_time()
    fn()
    return time.process_time() - t


if __name__ == "__main__":
    case, args = sys.argv[1], orjson.loads(sys.argv[2])
    result = {
        "assess": assess,
        "stages": stages,
        "engine_scaling": engine_scaling,
        "parse_floor": parse_floor,
        "growth": growth,
    }[case](**args)
    sys.stdout.write(orjson.dumps(result).decode())
