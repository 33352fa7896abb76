"""How many cards each patient gets: the alert-burden measure of issue 13 item 11.

For every example patient (fhir/examples, as of 2025-06-02), every shared sample
(../shared/fhir-samples, as of 2026-11-27) and the reviewer's "typical older patient on
maintenance" (built below, as of 2025-06-02), under both profiles, it counts:

- the patient-view cards the service returns (`cds.service.cards.patient_view_cards`), by indicator;
- the concern cards an order for either product would show: all findings grouped by concept (one
  card per concept, the most severe finding sets the indicator), so a chart the patient view stays
  silent on (no indication, no trials) is still measured.

    .venv/bin/python tools/card_counts.py            # markdown tables (as in the README)
    .venv/bin/python tools/card_counts.py --json     # one row per patient and profile

To measure another revision, put its checkout first on the path:
`PYTHONPATH=/path/to/other/checkout .venv/bin/python tools/card_counts.py`.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from cds.contract.assessment import Assessment, Finding
from cds.ingest.load import RawResource, flatten, load_resources
from cds.pipeline import assess
from cds.service.cards import CardContext, patient_view_cards
from cds.synthetic import trd_patient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = (ROOT / "fhir" / "examples", date(2025, 6, 2), "*.json")
SAMPLES = (ROOT.parent / "shared" / "fhir-samples", date(2026, 11, 27), "*/*.json")
PROFILES = ("us-fda", "eu-smpc")
_SEVERITY = {"absolute": "critical", "relative": "warning", "info": "info"}
_RANK = {"critical": 0, "warning": 1, "info": 2}


def concern_cards(a: Assessment) -> Counter[str]:
    """One card per concept, its indicator from the most severe finding (a blocking data gap is
    at least a warning, as in cds/service/cards.py)."""
    by_concept: dict[str, str] = {}
    for f in a.findings:
        level = _indicator(f)
        prev = by_concept.get(f.concept)
        if prev is None or _RANK[level] < _RANK[prev]:
            by_concept[f.concept] = level
    return Counter(by_concept.values())


def _indicator(f: Finding) -> str:
    if f.category == "data-gap" and f.blocks and f.severity == "info":
        return "warning"
    return _SEVERITY[f.severity]


def older_on_maintenance() -> list[RawResource]:
    """Issue 13's typical older patient on maintenance: 72, TRD, on esketamine since January,
    controlled hypertension on two antihypertensives, a myocardial infarction in 2010 (resolved),
    blood pressure 134/84 last week."""
    p = trd_patient("older-maintenance", birth="1953-02-10", gender="male")
    p.medication("esketamine", start="2025-01-20", end=None, text_only=True)
    p.condition("I10", display="Essential hypertension", onset="2012-05-01")
    p.condition(
        "I21.9",
        display="Acute myocardial infarction",
        onset="2010-03-01",
        status="resolved",
        abatement="2010-04-15",
    )
    p.medication("lisinopril", start="2015-01-01", end=None, mg=20)
    p.medication("amlodipine", start="2016-01-01", end=None, mg=5, text_only=True)
    p.blood_pressure("2025-05-27", 134, 84)
    return flatten(p.bundle())


def _inputs() -> Iterable[tuple[str, str, date, list[RawResource]]]:
    for which, (folder, as_of, pattern) in (("examples", EXAMPLES), ("samples", SAMPLES)):
        for path in sorted(folder.glob(pattern)):
            name = path.stem if which == "examples" else f"{path.parent.name}/{path.stem[:40]}"
            yield which, name, as_of, load_resources(path)
    yield "older patient on maintenance", "older-maintenance", date(2025, 6, 2), older_on_maintenance()


def rows() -> Iterable[dict[str, object]]:
    ctx = CardContext(patient_id="p", user_id="Practitioner/x", encounter_id=None, ruleset_version="measure")
    for which, name, as_of, resources in _inputs():
        for profile in PROFILES:
            a = assess(resources, as_of=as_of, profile=profile)  # type: ignore[arg-type]
            view = Counter(c.card.indicator for c in patient_view_cards(a, [], ctx))
            concern = concern_cards(a)
            yield {
                "set": which,
                "patient": name,
                "profile": profile,
                "view_warning": view["warning"],
                "view_critical": view["critical"],
                "view_info": view["info"],
                "concern_warning": concern["warning"],
                "concern_critical": concern["critical"],
                "concern_info": concern["info"],
            }


def _distribution(values: list[int]) -> str:
    counts = Counter(values)
    return ", ".join(f"{k}: {counts[k]}" for k in sorted(counts))


def table(data: list[dict[str, object]]) -> str:
    lines = [
        "| patients (profile) | cards counted | warning cards per patient (value: patients) | median | max |",
        "|---|---|---|---|---|",
    ]
    for which in ("examples", "samples", "older patient on maintenance"):
        for kind, label in (
            ("view", "patient-view cards"),
            ("concern", "one card per concept, all findings"),
        ):
            values = [int(str(r[f"{kind}_warning"])) for r in data if r["set"] == which]
            if not values:
                continue
            lines.append(
                f"| {which} ({len(values)}) | {label} | {_distribution(values)} | "
                f"{statistics.median(values):g} | {max(values)} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one row per patient and profile")
    args = parser.parse_args()
    data = list(rows())
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(table(data))


if __name__ == "__main__":
    main()
