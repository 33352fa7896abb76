"""Metamorphic testing of the whole pipeline: a record re-encoded another valid way must give the
same clinical answer; a meaningful change must change it the stated way.

A transformation is a small pure function over a patient's resources (a list of FHIR resource
dicts, deep-copied before it is called). Modules in `tests/metamorphic/transforms/` expose

    PRESERVING: list[Preserving]   # meaning-preserving re-encodings
    CHANGING:   list[Changing]     # meaning-changing edits with the expected effect

and `test_metamorphic.py` runs every one over every example patient it applies to. A new FHIR
shape is one function and one line in a list.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cds import Assessment, assess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "fhir" / "examples"
AS_OF = date(2025, 6, 2)

Resources = list[dict[str, Any]]


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES.glob("*.json"))


def load_example(name: str) -> Resources:
    bundle = json.loads((EXAMPLES / f"{name}.json").read_text())
    return [e["resource"] for e in bundle["entry"]]


def run(resources: Resources, profile: str = "us-fda") -> Assessment:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    return assess([bundle], as_of=AS_OF, profile=profile)  # type: ignore[arg-type]


def signature(a: Assessment) -> dict[str, Any]:
    """What a clinician acts on: the same record, re-encoded, must give the same signature.
    FHIR ids and free text may differ between encodings; the decisions may not."""
    return {
        "indication": a.indication.status,
        "pathway": a.indication.pathway,
        "adequate_failed_trials": a.indication.adequate_failed_trials,
        "trials": sorted(
            (t.drug, t.counts_as_failed, t.adequate_dose, t.adequate_duration) for t in a.indication.trials
        ),
        "products": {
            p.product: (p.verdict, p.dosing.model_dump(mode="json") if p.dosing else None) for p in a.products
        },
        "findings": sorted((f.rule, f.severity) for f in a.findings),
    }


def by_type(resources: Resources, rtype: str) -> list[dict[str, Any]]:
    return [r for r in resources if r.get("resourceType") == rtype]


@dataclass(frozen=True)
class Preserving:
    name: str
    fn: Callable[[Resources], Resources]
    # Patients (example stems) it applies to; empty means every example the function changes.
    patients: tuple[str, ...] = ()

    def apply(self, resources: Resources) -> Resources:
        return self.fn(copy.deepcopy(resources))


@dataclass(frozen=True)
class Changing:
    name: str
    fn: Callable[[Resources], Resources]
    # The stated effect: raises AssertionError (with a message) when the new assessment is wrong.
    expect: Callable[[Assessment, Assessment], None]
    patients: tuple[str, ...] = field(default=("trd-eligible",))

    def apply(self, resources: Resources) -> Resources:
        return self.fn(copy.deepcopy(resources))


def product(a: Assessment, name: str) -> str:
    return next(p.verdict for p in a.products if p.product == name)
