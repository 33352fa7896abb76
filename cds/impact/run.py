"""Run a population under two knowledge versions and compare, patient by patient.

Patient records come from the screening machinery (`cds.screen`: bundles, or a Bulk Data export
grouped by patient through its on-disk hash partition). Each record is evaluated under both
versions in the same worker: both `Knowledge` values are loaded once per worker process.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from itertools import islice
from pathlib import Path

import orjson

from cds.contract.assessment import Assessment, Profile
from cds.errors import CdsError
from cds.impact.diff import knowledge_changes
from cds.impact.model import (
    INDICATORS,
    Burden,
    FindingKey,
    ImpactReport,
    Indicator,
    Outcome,
    PatientImpact,
    RuleImpact,
    Side,
)
from cds.ingest.load import RawResource, flatten, load_resources
from cds.ingest.validate import USED_TYPES, known_types
from cds.knowledge import Knowledge
from cds.pipeline import evaluate
from cds.population import archetype_of
from cds.screen import bulk
from cds.screen.run import classify

BATCH = 32
MAX_ERROR = 300
MAX_UNATTRIBUTED = 20  # export lines belonging to no patient, named in the report
# As the CDS Hooks service maps them (cds/service/cards.py): one card per concept, the most severe
# finding's indicator; a data gap that blocks clearing a product is raised to warning.
SEVERITY_INDICATOR: dict[str, Indicator] = {"absolute": "critical", "relative": "warning", "info": "info"}
_RANK: dict[Indicator, int] = {"critical": 3, "warning": 2, "info": 1}


@dataclass(frozen=True)
class Record:
    patient: str
    resources: list[RawResource]
    problem: str | None = None  # a line that could not be read: the record is not assessed


def records(paths: list[Path], workdir: Path, unattributed: list[str] | None = None) -> Iterator[Record]:
    """Every patient record under `paths`: one bundle per file, or a Bulk Data export by patient.
    Export lines no patient can be given (unreadable JSON among them) go to `unattributed`."""
    inputs = classify(paths)
    for f in inputs.bundles:
        yield Record(f.name, load_resources(f))
    if not inputs.ndjson:
        return
    # Every line of a type some fact reads is kept: the pre-validation filter of one knowledge could
    # drop what the other reads (a code only one version's value sets hold).
    read = bulk.Reading(USED_TYPES, known_types(), _keep)
    buckets = bulk.bucket_count(bulk.read_bytes(inputs.ndjson, read))
    scan = bulk.Scan()
    for chunk in bulk.chunks(inputs.ndjson, read):
        scan.merge(bulk.partition_chunk(chunk, read, str(workdir), buckets, "0"))
    if unattributed is not None and scan.unattributed:
        unattributed.extend(scan.reported or [f"{scan.unattributed} unreadable lines naming no patient"])
    meds_file = bulk.merge_medications(workdir)
    shared = _medications(meds_file) if meds_file else {}
    for group in bulk.bucket_groups(workdir, buckets):
        resources: list[RawResource] = []
        problem = group.problems[0] if group.problems else None
        for origin, line in group.lines:
            try:
                resources.extend(flatten(orjson.loads(line), origin))
            except orjson.JSONDecodeError as exc:
                problem = problem or f"{origin}: not valid JSON ({exc})"
            except CdsError as exc:
                problem = problem or str(exc)
        # As in `cds screen`: a record with an unreadable line is an error, never assessed without it.
        yield Record(group.patient, resources + _referenced(resources, shared), problem)


def _keep(res: RawResource) -> bool:
    return True


def _medications(path: Path) -> dict[str, RawResource]:
    out: dict[str, RawResource] = {}
    for line in path.read_bytes().splitlines():
        origin, _, data = line.partition(b"\t")
        obj = orjson.loads(data)
        out[str(obj.get("id"))] = RawResource(obj, origin.decode())
    return out


def _referenced(resources: list[RawResource], shared: dict[str, RawResource]) -> list[RawResource]:
    ids = []
    for r in resources:
        ref = r.data.get("medicationReference")
        target = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(target, str) and not target.startswith("#"):
            ids.append(target.rsplit("/", 1)[-1])
    return [shared[i] for i in dict.fromkeys(ids) if i in shared]


def outcome(assessment: Assessment, fired: Iterable[str]) -> Outcome:
    verdicts = {p.product: p.verdict for p in assessment.products}
    cards: dict[str, Indicator] = {}
    for f in assessment.findings:
        indicator = SEVERITY_INDICATOR[f.severity]
        if f.category == "data-gap" and f.blocks and indicator == "info":
            indicator = "warning"
        if f.concept not in cards or _RANK[indicator] > _RANK[cards[f.concept]]:
            cards[f.concept] = indicator
    return Outcome(
        indication=assessment.indication.status,
        pathway=assessment.indication.pathway,
        esketamine=verdicts.get("esketamine"),
        ketamine_iv=verdicts.get("ketamine-iv"),
        findings=sorted(
            {
                FindingKey(rule=f.rule, concept=f.concept, category=f.category, severity=f.severity)
                for f in assessment.findings
            },
            key=str,
        ),
        fired=sorted(set(fired)),
        cards=dict(sorted(cards.items())),
    )


def _evaluate(record: Record, knowledge: Knowledge, as_of: date, profile: Profile) -> Outcome:
    if record.problem is not None:
        return Outcome(error=record.problem[:MAX_ERROR])
    try:
        ev = evaluate(record.resources, knowledge, as_of=as_of, profile=profile)
    except CdsError as exc:
        return Outcome(error=str(exc)[:MAX_ERROR])
    except Exception as exc:  # one bad record never stops the run (as in cds screen)
        return Outcome(error=f"internal error ({type(exc).__name__}): {exc}"[:MAX_ERROR])
    return outcome(ev.assessment, (f.rule_id for f in ev.firings))


def compare(
    record: Record, base: Knowledge, changed: Knowledge, as_of: date, profile: Profile
) -> PatientImpact:
    patient = next((r.data for r in record.resources if r.type == "Patient"), {})
    return PatientImpact(
        patient=str(patient.get("id") or record.patient),
        archetype=archetype_of(patient),
        before=_evaluate(record, base, as_of, profile),
        after=_evaluate(record, changed, as_of, profile),
    )


# --- worker processes ---------------------------------------------------------------------------

_WORKER: tuple[Knowledge, Knowledge] | None = None


def _init(base: tuple[Path, Path], changed: tuple[Path, Path]) -> None:
    global _WORKER
    _WORKER = (Knowledge.load(*base), Knowledge.load(*changed))


def _work(batch: list[Record], as_of: date, profile: Profile) -> list[PatientImpact]:
    assert _WORKER is not None
    return [compare(r, *_WORKER, as_of, profile) for r in batch]


def _batched(items: Iterable[Record], size: int) -> Iterator[list[Record]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def compare_all(
    paths: list[Path],
    base: Knowledge,
    changed: Knowledge,
    as_of: date,
    profile: Profile,
    jobs: int = 1,
    unattributed: list[str] | None = None,
) -> Iterator[PatientImpact]:
    with tempfile.TemporaryDirectory(prefix="cds-impact-") as tmp:
        recs = records(paths, Path(tmp), unattributed)
        if jobs <= 1:
            for r in recs:
                yield compare(r, base, changed, as_of, profile)
            return
        sides = ((base.rules_dir, base.fhir_dir), (changed.rules_dir, changed.fhir_dir))
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=sides) as pool:
            inflight = []
            for batch in _batched(recs, BATCH):
                inflight.append(pool.submit(_work, batch, as_of, profile))
                if len(inflight) >= 2 * jobs:
                    yield from inflight.pop(0).result()
            for future in inflight:
                yield from future.result()


# --- the report -------------------------------------------------------------------------------


def analyse(
    paths: list[Path],
    base: Knowledge,
    changed: Knowledge,
    *,
    as_of: date,
    profile: Profile = "us-fda",
    base_label: str = "base",
    changed_label: str = "working tree",
    jobs: int | None = 1,
) -> ImpactReport:
    """The impact report of going from `base` to `changed` on the population under `paths`."""
    jobs = max(1, jobs or os.cpu_count() or 1)
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("ib", "ia", "eb", "ea", "kb", "ka")}
    fired_before: Counter[str] = Counter()
    fired_after: Counter[str] = Counter()
    newly: Counter[str] = Counter()
    stopped: Counter[str] = Counter()
    cards_before: Counter[str] = Counter()
    cards_after: Counter[str] = Counter()
    changed_patients: list[PatientImpact] = []
    patients = errors = unchanged = 0
    unattributed: list[str] = []
    for p in compare_all(paths, base, changed, as_of, profile, jobs, unattributed):
        patients += 1
        if p.before.error or p.after.error:
            errors += 1
        for key, side in (("b", p.before), ("a", p.after)):
            counts["i" + key][side.indication or "error"] += 1
            counts["e" + key][side.esketamine or "error"] += 1
            counts["k" + key][side.ketamine_iv or "error"] += 1
        fired_before.update(p.before.fired)
        fired_after.update(p.after.fired)
        newly.update(p.newly_fired)
        stopped.update(p.stopped_firing)
        cards_before.update(p.before.cards.values())
        cards_after.update(p.after.cards.values())
        if p.changed:
            changed_patients.append(p)
        else:
            unchanged += 1
    per_1000 = 1000 / patients if patients else 0.0
    rules = [
        RuleImpact(
            rule=r,
            fired_before=fired_before[r],
            fired_after=fired_after[r],
            newly_fire=newly[r],
            stop_firing=stopped[r],
        )
        for r in (newly.keys() | stopped.keys())
    ]
    rules.sort(key=lambda r: (-(r.newly_fire + r.stop_firing), r.rule))
    return ImpactReport(
        base=Side(label=base_label, version=base.version, stamp=base.stamp),
        changed=Side(label=changed_label, version=changed.version, stamp=changed.stamp),
        as_of=as_of.isoformat(),
        profile=profile,
        patients=patients,
        errors=errors,
        indication_before=dict(counts["ib"]),
        indication_after=dict(counts["ia"]),
        esketamine_before=dict(counts["eb"]),
        esketamine_after=dict(counts["ea"]),
        ketamine_iv_before=dict(counts["kb"]),
        ketamine_iv_after=dict(counts["ka"]),
        burden_before=Burden(**{i: round(cards_before[i] * per_1000, 1) for i in INDICATORS}),
        burden_after=Burden(**{i: round(cards_after[i] * per_1000, 1) for i in INDICATORS}),
        rules=rules,
        knowledge=knowledge_changes(base, changed),
        changed_patients=changed_patients,
        unchanged_patients=unchanged,
        unattributed=unattributed[:MAX_UNATTRIBUTED],
    )
