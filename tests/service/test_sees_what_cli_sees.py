"""The service sees what the CLI sees (issue 11 item 1): for every example patient and every shared
sample, the assessment the service makes on a patient-view call equals `cds check` on the whole
record, (a) with the prefetch filled from the service's own templates, and (b) with no prefetch,
the service fetching everything from a real FHIR server (tests/fhir_server)."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds.contract.assessment import Assessment, Profile
from cds.pipeline import evaluate
from cds.population import DEFAULT_AS_OF, generate
from cds.security.issuers import normalise_base
from cds.service.catalog import PATIENT_VIEW_SERVICE, prefetch_from_record
from cds.service.hooks import CoreEngine

from .conftest import FhirServer
from .fakes import Harness, service_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "fhir" / "examples").glob("*.json"))
SAMPLES_DIR = ROOT.parent / "shared" / "fhir-samples"
SAMPLES = sorted(SAMPLES_DIR.glob("*/*.json")) if SAMPLES_DIR.exists() else []
CASES = [(p, date(2025, 6, 2)) for p in EXAMPLES] + [(p, date(2026, 11, 27)) for p in SAMPLES]
IDS = [p.stem[:50] for p, _ in CASES]


class RecordingEngine(CoreEngine):
    """The real engine (cds.pipeline.evaluate), keeping each assessment the service made."""

    def __init__(self, as_of: date) -> None:
        super().__init__(as_of)
        self.assessments: list[Assessment] = []
        self.calls: list[list[dict[str, Any]]] = []

    def evaluate(self, resources: list[dict[str, Any]], *, profile: Profile) -> Any:
        result = super().evaluate(resources, profile=profile)
        self.assessments.append(result.assessment)
        self.calls.append(resources)
        return result


def _record(path: Path) -> list[dict[str, Any]]:
    """The record's resources with references as a FHIR server stores them (`Type/id`; a
    transaction's `urn:uuid:` fullUrls resolved), as tests/fhir_server does on load."""
    bundle = json.loads(path.read_text())
    entries = [e for e in bundle.get("entry", []) if isinstance(e.get("resource"), dict)]
    refs = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource'].get('id')}"
        for e in entries
        if e.get("fullUrl")
    }

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (refs.get(v, v) if k == "reference" and isinstance(v, str) else rewrite(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    return [rewrite(copy.deepcopy(e["resource"])) for e in entries]


def _patient_id(resources: list[dict[str, Any]]) -> str:
    return str(next(r for r in resources if r["resourceType"] == "Patient")["id"])


def _request(pid: str, **extra: Any) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "5b7a8c34-3f60-4d2b-9a0e-0c3d2a6f5e11",
        "context": {"userId": "Practitioner/dr-1", "patientId": pid},
        **extra,
    }


def _cli(path: Path, as_of: date) -> dict[str, Any]:
    from cds.ingest.load import load_resources

    return evaluate(load_resources(path), as_of=as_of).assessment.to_json_dict()


def _service(harness: Harness, engine: RecordingEngine, body: dict[str, Any]) -> dict[str, Any]:
    response = harness.call(PATIENT_VIEW_SERVICE, body)
    assert response.status_code == 200, response.text[:500]
    assert engine.assessments, "the service made no assessment"
    return engine.assessments[-1].to_json_dict()


@pytest.mark.slow
@pytest.mark.parametrize(("path", "as_of"), CASES, ids=IDS)
def test_prefetch_from_the_services_own_templates_gives_the_cli_assessment(path: Path, as_of: date) -> None:
    resources = _record(path)
    pid = _patient_id(resources)
    engine = RecordingEngine(as_of)
    harness = Harness(engine=engine)  # type: ignore[arg-type]
    got = _service(harness, engine, _request(pid, prefetch=prefetch_from_record(resources, pid)))
    assert got == _cli(path, as_of)


@pytest.mark.slow
@pytest.mark.parametrize(("path", "as_of"), CASES, ids=IDS)
def test_no_prefetch_and_a_real_fhir_server_gives_the_cli_assessment(
    path: Path, as_of: date, fhir_server: FhirServer
) -> None:
    resources = _record(path)
    pid = _patient_id(resources)
    fhir_server.load(
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    )
    engine = RecordingEngine(as_of)
    harness = Harness(
        engine=engine,  # type: ignore[arg-type]
        settings=service_settings(fhir_allow_http=True, fhir_timeout_s=30),
        fhir_servers=frozenset({normalise_base(fhir_server.fhir_base)}),
    )
    body = _request(
        pid,
        prefetch={},
        fhirServer=fhir_server.fhir_base,
        fhirAuthorization={
            "access_token": "t",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/*.read",
            "subject": "ketamine-cds",
        },
    )
    got = _service(harness, engine, body)
    want = _cli(path, as_of)
    # A FHIR server adds `meta` (versionId, lastUpdated) to what it stores; no fact reads it.
    assert got == want


def _through_service_equals_cli(bundle: dict[str, Any], pid: str, tmp_path: Path) -> dict[str, Any]:
    """The service's assessment of a built record through its own templates (as of 2025-06-02),
    asserted equal to `cds check` on the same record; returned for the case's own assertions."""
    path = tmp_path / f"{pid}.json"
    path.write_text(json.dumps(bundle))
    as_of = date(2025, 6, 2)
    resources = _record(path)
    engine = RecordingEngine(as_of)
    body = _request(pid, prefetch=prefetch_from_record(resources, pid))
    got = _service(Harness(engine=engine), engine, body)  # type: ignore[arg-type]
    assert got == _cli(path, as_of)
    return got


@pytest.mark.slow
def test_child_pugh_c_from_charted_labs_is_seen_by_the_service(tmp_path: Path) -> None:
    """The case the issue found: cirrhosis with Child-Pugh C labs in the chart. Through the
    service's own templates the labs arrive, so esketamine is contraindicated exactly as by `cds
    check`, instead of a card asking to measure bilirubin, albumin and INR."""
    from cds.synthetic import trd_patient

    p = trd_patient("cirrhosis")
    p.condition("K74.60", onset="2022-01-10")
    p.condition("K76.82", onset="2025-01-01")
    p.observation("1975-2", "2025-05-20", value=3.5, unit="mg/dL", vital=False)
    p.observation("1751-7", "2025-05-20", value=2.5, unit="g/dL", vital=False)
    p.observation("6301-6", "2025-05-20", value=2.5, unit="{INR}", vital=False)
    got = _through_service_equals_cli(p.bundle(), "cirrhosis", tmp_path)
    verdicts = {p["product"]: p["verdict"] for p in got["products"]}
    assert verdicts["esketamine"] == "contraindicated"
    assert "contraindication.severe-hepatic-impairment" in {f["rule"] for f in got["findings"]}
    assert not any(f["rule"] == "data-gap.child-pugh" for f in got["findings"])


POPULATION = list(generate(100, seed=7))


@pytest.mark.slow
def test_the_test_population_through_the_service_equals_the_cli() -> None:
    """Every archetype of the generated population (contraindicated by aneurysm, AVM, brain
    haemorrhage, allergy or pregnancy; BP at each threshold; ages 17-18 and 64-66; incomplete
    charts) gets the same assessment through the service's own data fetch as from `cds check`,
    and the contraindicated ones are contraindicated there too."""
    seen: set[str] = set()
    for archetype, resources in POPULATION:
        pid = _patient_id(resources)
        engine = RecordingEngine(DEFAULT_AS_OF)
        got = _service(
            Harness(engine=engine), engine, _request(pid, prefetch=prefetch_from_record(resources, pid))
        )  # type: ignore[arg-type]
        want = evaluate(resources, as_of=DEFAULT_AS_OF).assessment.to_json_dict()
        assert got == want, f"{archetype.name} ({pid})"
        if archetype.name == "contraindicated":
            verdicts = {p["product"]: p["verdict"] for p in got["products"]}
            assert verdicts["esketamine"] == "contraindicated", pid
        seen.add(archetype.name)
    assert {"contraindicated", "incomplete-safety-data", "bp-near-140-90", "age-17"} <= seen


@pytest.mark.slow
def test_this_sessions_medication_shapes_are_seen_by_the_service(tmp_path: Path) -> None:
    """A current medication coded only by an NDC the RxNorm table lacks (data-gap.medication-identity)
    and an antidepressant ordered with a free-text titration sig only (read as dated steps) reach the
    service through its own templates and give the `cds check` assessment."""
    from cds.synthetic import trd_patient

    p = trd_patient("shapes")
    p.resources.append(
        {
            "resourceType": "MedicationStatement",
            "id": "shapes-ndc",
            "status": "active",
            "medicationCodeableConcept": {
                "coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "99999-999-99"}]
            },
            "subject": p.ref,
            "effectivePeriod": {"start": "2025-03-01"},
        }
    )
    p.resources.append(
        {
            "resourceType": "MedicationRequest",
            "id": "shapes-sig",
            "status": "completed",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [
                    {
                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                        "code": "32937",
                        "display": "paroxetine",
                    }
                ]
            },
            "subject": p.ref,
            "authoredOn": "2023-01-10",
            "dosageInstruction": [{"text": "Take 10 mg daily for 7 days, then 20 mg daily"}],
            "dispenseRequest": {"validityPeriod": {"start": "2023-01-10", "end": "2023-04-10"}},
        }
    )
    got = _through_service_equals_cli(p.bundle(), "shapes", tmp_path)
    assert "data-gap.medication-identity" in {f["rule"] for f in got["findings"]}
    assert {p["product"]: p["verdict"] for p in got["products"]}["esketamine"] != "appropriate"
    paroxetine = [t for t in got["indication"]["trials"] if "paroxetine" in t["drug"].lower()]
    assert paroxetine and paroxetine[0]["daily_dose_mg"] == 20


@pytest.mark.parametrize(
    ("ndc", "period", "identity", "cns"),
    [
        ("00187006401", {"start": "2025-03-01"}, False, True),  # lorazepam 1 mg (Ativan): resolved
        ("99999-999-99", {"start": "2024-01-01", "end": "2024-02-01"}, False, False),  # stopped
    ],
    ids=["resolved-ndc", "stopped-unidentified"],
)
def test_medication_identity_does_not_fire_through_the_service_when_the_drug_is_known_or_stopped(
    ndc: str, period: dict[str, str], identity: bool, cns: bool, tmp_path: Path
) -> None:
    """The not-firing side of data-gap.medication-identity, through the service's own templates: an
    NDC the RxNorm table resolves is read as its drug (the benzodiazepine interaction fires), and an
    unidentified drug that was stopped raises nothing."""
    from cds.synthetic import trd_patient

    p = trd_patient("ndc-known")
    p.resources.append(
        {
            "resourceType": "MedicationStatement",
            "id": "ndc-only",
            "status": "active" if "end" not in period else "completed",
            "medicationCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": ndc}]},
            "subject": p.ref,
            "effectivePeriod": period,
        }
    )
    fired = {f["rule"] for f in _through_service_equals_cli(p.bundle(), "ndc-known", tmp_path)["findings"]}
    assert ("data-gap.medication-identity" in fired) is identity
    assert ("interaction.cns-depressant" in fired) is cns
