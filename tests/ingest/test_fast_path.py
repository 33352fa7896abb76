"""The fast path (lean R4B projections) against full fhir.resources validation (--strict)."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds.errors import InputError
from cds.ingest.lean import READS
from cds.ingest.load import RawResource, flatten, load_resources
from cds.pipeline import evaluate
from cds.synthetic import trd_patient

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fhir-samples"
FILES = sorted(SAMPLES.glob("*/*.json")) if SAMPLES.exists() else []
AS_OF = date(2025, 6, 2)


@pytest.mark.slow
@pytest.mark.skipif(not FILES, reason="../shared/fhir-samples is not present (it ships beside the repo)")
@pytest.mark.parametrize("path", FILES, ids=[f.name[:60] for f in FILES])
def test_strict_and_fast_path_give_the_same_assessment(path: Path) -> None:
    resources = load_resources(path)
    fast = evaluate(resources, as_of=date(2026, 11, 27)).assessment.to_json_dict()
    strict = evaluate(resources, as_of=date(2026, 11, 27), strict=True).assessment.to_json_dict()
    assert orjson.dumps(fast, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        strict, option=orjson.OPT_SORT_KEYS
    )


def _bundle() -> dict[str, Any]:
    b = trd_patient("fast").bundle()
    b["entry"].append(
        {
            "resource": {
                "resourceType": "MedicationDispense",
                "id": "d1",
                "status": "completed",
                "subject": {"reference": "Patient/fast"},
                "medicationCodeableConcept": {"text": "sertraline 50 MG Oral Tablet"},
            }
        }
    )
    b["entry"].append(
        {
            "resource": {
                "resourceType": "Condition",
                "id": "c-rec",
                "subject": {"reference": "Patient/fast"},
                "code": {"text": "low back pain"},
                "recordedDate": "2020-01-01",
            }
        }
    )
    return b


def _first(b: dict[str, Any], rtype: str) -> dict[str, Any]:
    return next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == rtype)


# Bad values in fields the facts read: (mutation, the field the message must name).
READ_FIELD_ERRORS = {
    "condition-onset-not-a-date": (
        lambda b: _first(b, "Condition").update(onsetDateTime="last spring"),
        "onsetDateTime",
    ),
    # A second, malformed coding on an observation the facts recognise by its first coding.
    "observation-code-with-double-space": (
        lambda b: _first(b, "Observation")["code"]["coding"].append(
            {"system": "http://loinc.org", "code": "8  9"}
        ),
        "code.coding.1.code",
    ),
    "observation-value-not-a-number": (
        lambda b: _first(b, "Observation").update(valueQuantity={"value": "many"}),
        "valueQuantity.value",
    ),
    "statement-period-month-13": (
        lambda b: _first(b, "MedicationStatement")["effectivePeriod"].update(start="2024-13-01"),
        "effectivePeriod.start",
    ),
    "patient-gender-not-a-code": (lambda b: _first(b, "Patient").update(gender=["female"]), "gender"),
    "onset-given-twice": (
        lambda b: _first(b, "Condition").update(onsetPeriod={"start": "2024-01-01"}),
        "onset",
    ),
    "dispense-has-no-status-reason-field": (
        lambda b: _first(b, "MedicationDispense").update(statusReason={"text": "x"}),
        "statusReason",
    ),
    "observation-status-missing": (lambda b: _first(b, "Observation").pop("status"), "status"),
    "contained-medication-bad-code": (
        lambda b: _first(b, "MedicationStatement").update(
            contained=[{"resourceType": "Medication", "id": "m", "code": {"coding": [{"code": " x"}]}}]
        ),
        "contained.0.code.coding.0.code",
    ),
}


@pytest.mark.parametrize("case", list(READ_FIELD_ERRORS))
def test_bad_data_in_a_read_field_is_refused_by_both_paths(case: str) -> None:
    mutate, field = READ_FIELD_ERRORS[case]
    bundle = _bundle()
    mutate(bundle)
    resources = flatten(bundle, "patient.json")
    with pytest.raises(InputError) as fast:
        evaluate(resources, as_of=AS_OF)
    with pytest.raises(InputError):
        evaluate(resources, as_of=AS_OF, strict=True)
    message = str(fast.value)
    assert "patient.json entry[" in message and field in message, message


def test_bad_data_in_a_field_no_fact_reads_is_refused_only_in_strict_mode() -> None:
    bundle = _bundle()
    _first(bundle, "Observation")["note"] = "not a list of Annotations"
    resources = flatten(bundle, "patient.json")
    assert evaluate(resources, as_of=AS_OF).assessment.indication.status == "eligible"
    with pytest.raises(InputError, match="note"):
        evaluate(resources, as_of=AS_OF, strict=True)


def test_a_primitive_carried_only_by_its_extension_is_valid() -> None:
    bundle = _bundle()
    obs = _first(bundle, "Observation")
    obs.pop("status")
    obs["_status"] = {
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
        ]
    }
    resources = flatten(bundle, "patient.json")
    assert (
        evaluate(resources, as_of=AS_OF).assessment
        == evaluate(resources, as_of=AS_OF, strict=True).assessment
    )


class _Recorder(dict):  # type: ignore[type-arg]
    """A resource dict that records which top-level keys the fact builders read."""

    def __init__(self, data: dict[str, Any], seen: set[str]) -> None:
        super().__init__(data)
        self.seen = seen

    def get(self, key: Any, default: Any = None) -> Any:
        self.seen.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.seen.add(key)
        return super().__getitem__(key)


def test_every_field_the_facts_read_is_projected() -> None:
    """A fact builder reading a field READS does not list would read unvalidated data."""
    bundles = [_bundle()]
    bundles += [orjson.loads(f.read_bytes()) for f in FILES]
    from cds.facts.build import build_facts
    from cds.ingest.validate import select_and_validate
    from cds.knowledge import default_knowledge

    seen: dict[str, set[str]] = {}
    for bundle in bundles:
        used = select_and_validate(flatten(copy.deepcopy(bundle), "x"))
        wrapped = [RawResource(_Recorder(r.data, seen.setdefault(r.type, set())), r.origin) for r in used]
        try:
            build_facts(wrapped, default_knowledge(), date(2026, 11, 27))
        except InputError:
            continue
    unprojected = {
        t: sorted(k for k in keys if k not in READS[t] and k not in ("resourceType", "contained"))
        for t, keys in seen.items()
    }
    assert not any(unprojected.values()), unprojected


def test_a_resource_whose_code_no_value_set_knows_is_skipped_unvalidated() -> None:
    """A routine lab the facts never read is skipped like an unused type; --strict still checks it."""
    bundle = _bundle()
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "id": "glucose",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
                "effectiveDateTime": "yesterday",
                "valueQuantity": {"value": "high"},
            }
        }
    )
    resources = flatten(bundle, "patient.json")
    assert evaluate(resources, as_of=AS_OF).assessment.indication.status == "eligible"
    with pytest.raises(InputError, match="glucose"):
        evaluate(resources, as_of=AS_OF, strict=True)
