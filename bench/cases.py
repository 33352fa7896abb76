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


def call_cost(body_path: str, work: str, as_of: str, reps: int) -> dict[str, Any]:
    """Where one hook call's CPU goes: each step of the service's path, run by the service's own
    functions in order on fresh data each time (a token signed beforehand, the request bytes, the
    audit database on disk with synchronous=FULL), after a worker's warm-up. CPU ms per step (mean);
    what the service spends beyond their sum is HTTP, the framework and thread hand-offs."""
    import asyncio
    import uuid
    from datetime import UTC, datetime

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    from cds.audit.records import HookCallRecord
    from cds.audit.store import AuditStore
    from cds.security.jwt import JwtVerifier, load_trusted_issuers
    from cds.service.app import warm_up
    from cds.service.cards import CardContext, patient_view_cards
    from cds.service.catalog import PATIENT_VIEW_SERVICE, services
    from cds.service.hooks import CoreEngine, parse_context
    from cds.service.outcomes import json_response
    from cds.service.prefetch import FetchPolicy, gather
    from cds.service.reports import stored_report, with_report_link
    from cds.service.routes import _hook_request, issued_cards

    folder, raw = Path(work), Path(body_path).read_bytes()
    issuer, audience = "https://bench.example/cds-client", "http://127.0.0.1/cds-services/x"
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = orjson.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="bench", use="sig", alg="ES384")
    (folder / "cost-jwks.json").write_bytes(orjson.dumps({"keys": [jwk]}))
    (folder / "cost-issuers.yaml").write_text(f"- iss: {issuer}\n  jwks_file: cost-jwks.json\n")
    store = AuditStore(f"sqlite:///{folder / 'cost-audit.sqlite3'}")
    verifier = JwtVerifier(load_trusted_issuers(folder / "cost-issuers.yaml"), store.replay_cache())
    service = services()[PATIENT_VIEW_SERVICE]
    policy = FetchPolicy(5.0, False, frozenset(), 10_000_000, 50_000_000)
    engine = CoreEngine(as_of=date.fromisoformat(as_of))
    now = int(time.time())
    tokens = [
        "Bearer "
        + jwt.encode(
            {"iss": issuer, "aud": audience, "iat": now, "exp": now + 600, "jti": str(uuid.uuid4())},
            key,
            algorithm="ES384",
            headers={"kid": "bench", "typ": "JWT"},
        )
        for _ in range(reps + 3)
    ]
    warm_up(engine, "us-fda")
    steps = [
        "JWT verification",
        "request parse",
        "prefetch check",
        "assessment",
        "cards",
        "report JSON",
        "audit write",
        "response JSON",
    ]
    totals = dict.fromkeys(steps, 0.0)

    async def one(token: str, counted: bool) -> None:
        clock = time.process_time

        def step(name: str, t: float) -> float:
            now = clock()
            if counted:
                totals[name] += now - t
            return now

        t = clock()
        _, use = verifier.verify_unspent(token, audience)
        t = step("JWT verification", t)
        request = _hook_request(raw, service)
        t = step("request parse", t)
        context = parse_context(request)
        gathered = await gather(request, context.patientId, policy)
        resources = gathered.resources
        t = step("prefetch check", t)
        evaluation = engine.evaluate(resources, profile="us-fda")
        t = step("assessment", t)
        ctx = CardContext(
            context.patientId, context.userId, context.encounterId, evaluation.assessment.ruleset.stamp
        )
        cards = patient_view_cards(evaluation.assessment, gathered.missing, ctx)
        t = step("cards", t)
        report = stored_report(evaluation, now=datetime.now(UTC), ttl_hours=24)
        assert report is not None
        cards = with_report_link(cards, "http://127.0.0.1", report.report_id)
        t = step("report JSON", t)
        store.record_hook_call(
            HookCallRecord(
                hook_instance=str(uuid.uuid4()),
                service_id=service.id,
                hook=request.hook,
                at=datetime.now(UTC),
                ruleset_version=evaluation.assessment.ruleset.version,
                patient_ref=f"Patient/{context.patientId}",
                latency_ms=1,
                status_code=200,
                token=use,
                cards=issued_cards(cards),
                report=report,
            )
        )
        t = step("audit write", t)
        json_response({"cards": [c.card.to_json() for c in cards]})
        step("response JSON", t)

    async def run() -> None:
        for i, token in enumerate(tokens):
            await one(token, counted=i >= 3)

    asyncio.run(run())
    return {name: totals[name] / reps for name in steps}


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
        "call_cost": call_cost,
    }[case](**args)
    sys.stdout.write(orjson.dumps(result).decode())
