"""Fallback against a real FHIR server (tests/fhir_server: Medplum's in-memory router, loopback).

Skips when the server's Node dependencies are not installed (`npm ci --prefix tests/fhir_server`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from cds.security.issuers import normalise_base
from cds.service.catalog import ORDER_SIGN_SERVICE, PATIENT_VIEW_SERVICE

from .builders import medication_request, order_request, patient_view_request
from .conftest import FhirServer
from .fakes import Harness, service_settings
from .test_hook_calls import cards_of

pytestmark = pytest.mark.slow

SAMPLE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "fhir-samples"
    / "synthea-py-generated"
    / ("Jorge_Luis_Valles_4554ba27.json")
)
PID = "pat-fhir"


def small_record(patient_id: str = PID, conditions: int = 5) -> dict[str, Any]:
    subject = {"reference": f"Patient/{patient_id}"}
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": patient_id, "gender": "female", "birthDate": "1980-01-01"},
        {
            "resourceType": "AllergyIntolerance",
            "id": "al-1",
            "patient": subject,
            "code": {"text": "penicillin"},
        },
        {
            "resourceType": "Observation",
            "id": "bp-1",
            "status": "final",
            "subject": subject,
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        },
    ]
    resources += [
        {
            "resourceType": "Condition",
            "id": f"c-{i}",
            "subject": subject,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "370143000"}]},
        }
        for i in range(conditions)
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def fallback_request(
    server: FhirServer, body: dict[str, Any], token: str | None = "fhir-token"
) -> dict[str, Any]:
    body = {**body, "prefetch": {}, "fhirServer": server.fhir_base}
    body["context"] = {**body["context"], "patientId": PID}
    if token:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/*.read",
            "subject": "ketamine-cds",
        }
    return body


def harness(server: FhirServer, **settings: Any) -> Harness:
    """The service with the test server on its client's list of FHIR servers (plain http: loopback)."""
    return Harness(
        settings=service_settings(fhir_allow_http=True, **settings),
        fhir_servers=frozenset({normalise_base(server.fhir_base)}),
    )


def test_all_data_fetched_from_the_server_with_token_and_paging(fhir_server: FhirServer) -> None:
    fhir_server.load(small_record(conditions=5))
    fhir_server.control(requireToken="fhir-token", pageSize=2)
    h = harness(fhir_server)
    cards_of(h.call(PATIENT_VIEW_SERVICE, fallback_request(fhir_server, patient_view_request())))
    [resources] = h.engine.calls
    conditions = {r["id"] for r in resources if r["resourceType"] == "Condition"}
    assert conditions == {f"c-{i}" for i in range(5)}  # three pages followed
    assert {"Patient", "AllergyIntolerance", "Observation"} <= {r["resourceType"] for r in resources}
    log = fhir_server.log()
    searches = [entry for entry in log if entry["method"] == "GET"]
    assert searches and all(entry["authorization"] == "Bearer fhir-token" for entry in searches)
    assert any(
        entry["url"].startswith(f"/fhir/Condition?patient=Patient%2F{PID}")
        or entry["url"].startswith(f"/fhir/Condition?patient=Patient/{PID}")
        for entry in log
    )


def test_wrong_token_means_412(fhir_server: FhirServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cds.service")
    fhir_server.load(small_record())
    fhir_server.control(requireToken="another-token")
    response = harness(fhir_server).call(
        PATIENT_VIEW_SERVICE, fallback_request(fhir_server, patient_view_request())
    )
    assert response.status_code == 412
    # The caller learns the data could not be read; what the server answered is for the log only.
    assert "could not be read from fhirServer" in response.text and "401" not in response.text
    assert "FHIR fetch for patient failed: HTTP 401" in caplog.text


def test_unknown_patient_is_412(fhir_server: FhirServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cds.service")
    response = harness(fhir_server).call(
        PATIENT_VIEW_SERVICE, fallback_request(fhir_server, patient_view_request())
    )
    assert response.status_code == 412
    assert "patient (patient demographics): not prefetched, and could not be read" in response.text
    assert "FHIR fetch for patient: not found" in caplog.text


def test_slow_server_is_412_within_the_budget(
    fhir_server: FhirServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cds.service")
    fhir_server.load(small_record())
    fhir_server.control(delayMs=1500)
    response = harness(fhir_server, fhir_timeout_s=0.3).call(
        PATIENT_VIEW_SERVICE, fallback_request(fhir_server, patient_view_request())
    )
    assert response.status_code == 412
    assert "could not be read from fhirServer" in response.text
    assert "no answer within the time budget" in caplog.text


def test_failing_optional_search_gives_a_card_saying_so(fhir_server: FhirServer) -> None:
    fhir_server.load(small_record())
    fhir_server.control(failTypes=["Procedure"])
    cards = cards_of(
        harness(fhir_server).call(PATIENT_VIEW_SERVICE, fallback_request(fhir_server, patient_view_request()))
    )
    assert any(c["source"]["topic"]["code"] == "data-access" and "procedures" in c["summary"] for c in cards)


def test_order_sign_fallback_with_a_synthea_record(fhir_server: FhirServer) -> None:
    if not SAMPLE.exists():
        pytest.skip(f"shared sample missing: {SAMPLE}")
    bundle = json.loads(SAMPLE.read_text())
    patient_id = next(
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    fhir_server.load(bundle)
    # A 1 MB record through a single-threaded Node server: the budget here is not what is tested.
    h = harness(fhir_server, fhir_timeout_s=20)
    body = fallback_request(fhir_server, order_request(medication_request(dose_mg=84)), token=None)
    body["context"]["patientId"] = patient_id
    body["context"]["draftOrders"]["entry"][0]["resource"]["subject"] = {"reference": f"Patient/{patient_id}"}
    cards = cards_of(h.call(ORDER_SIGN_SERVICE, body))
    assert [c["summary"] for c in cards] == ["Esketamine 84 mg ordered; start dose (us-fda) is 56 mg"], cards[
        0
    ]["detail"]
    [resources] = h.engine.calls
    types = {r["resourceType"] for r in resources}
    assert {"Patient", "Condition", "MedicationRequest", "Observation"} <= types
