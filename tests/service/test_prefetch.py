"""Prefetch and fallback: present keys are used, null is 'nothing found', missing keys are fetched,
and data that cannot be had gives 412, never cards built on missing data."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest

from cds.service.catalog import PATIENT_VIEW_SERVICE, PREFETCH

from .builders import (
    FHIR_BASE,
    PATIENT_ID,
    full_prefetch,
    make_assessment,
    patient_resource,
    patient_view_request,
    searchset,
)
from .fakes import FakeEngine, Harness, service_settings
from .test_hook_calls import cards_of

OBSERVATION_CODES = next(q for q in PREFETCH if q.key == "observations").template.split("&code=")[1]
FHIR = FHIR_BASE


class FakeFhir:
    """A FHIR server behind httpx.MockTransport: answers by resource type, records requests."""

    def __init__(self, answers: dict[str, Any] | None = None, delay_s: float = 0.0) -> None:
        self.answers = answers or {}
        self.delay_s = delay_s
        self.requests: list[httpx.Request] = []

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        rtype = request.url.path.removeprefix("/fhir/").split("/")[0]
        answer = self.answers.get(rtype, searchset())
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        if rtype == "Patient" and answer == searchset():
            answer = patient_resource()
        return httpx.Response(200, json=answer)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def harness_with(fhir: FakeFhir, **settings: Any) -> Harness:
    return Harness(settings=service_settings(**settings), transport=fhir.transport())


def test_everything_prefetched_means_no_fhir_request() -> None:
    fhir = FakeFhir()
    harness = harness_with(fhir)
    cards_of(harness.call(PATIENT_VIEW_SERVICE, patient_view_request(fhirServer=FHIR)))
    assert fhir.requests == []
    [resources] = harness.engine.calls
    assert ("Patient", PATIENT_ID) in {(r["resourceType"], r.get("id")) for r in resources}


def test_missing_keys_are_fetched_with_the_bearer_token_and_patient_reference_form() -> None:
    fhir = FakeFhir(
        {
            "Condition": searchset(
                {"resourceType": "Condition", "id": "c9", "subject": {"reference": f"Patient/{PATIENT_ID}"}}
            )
        }
    )
    harness = harness_with(fhir)
    prefetch = full_prefetch()
    del prefetch["conditions"], prefetch["observations"]
    body = patient_view_request(
        prefetch,
        fhirServer=FHIR,
        fhirAuthorization={
            "access_token": "secret-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/*.read",
            "subject": "ketamine-cds",
        },
    )
    cards_of(harness.call(PATIENT_VIEW_SERVICE, body))
    urls = sorted(str(r.url) for r in fhir.requests)
    assert urls == [
        f"{FHIR}/Condition?patient=Patient/{PATIENT_ID}",
        f"{FHIR}/Observation?patient=Patient/{PATIENT_ID}&code={OBSERVATION_CODES}",
    ]
    assert all(r.headers["authorization"] == "Bearer secret-token" for r in fhir.requests)
    assert ("Condition", "c9") in {(r["resourceType"], r.get("id")) for r in harness.engine.calls[0]}


def test_null_means_nothing_found_and_is_not_fetched() -> None:
    fhir = FakeFhir()
    prefetch = full_prefetch()
    prefetch["medicationStatements"] = None
    prefetch["allergies"] = None
    cards = cards_of(
        harness_with(fhir).call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR))
    )
    assert fhir.requests == []
    assert not any(c["source"]["topic"]["code"] == "data-access" for c in cards)


def test_operation_outcome_under_a_key_is_fetched_again() -> None:
    fhir = FakeFhir()
    prefetch = full_prefetch()
    prefetch["allergies"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    cards_of(harness_with(fhir).call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR)))
    assert [r.url.path for r in fhir.requests] == ["/fhir/AllergyIntolerance"]


def test_next_pages_are_followed() -> None:
    page2 = f"{FHIR}/Condition?patient=Patient/{PATIENT_ID}&page=2"

    def conditions(request: httpx.Request) -> dict[str, Any]:
        if request.url.params.get("page") == "2":
            return searchset({"resourceType": "Condition", "id": "c2"})
        bundle = searchset({"resourceType": "Condition", "id": "c1"})
        bundle["link"] = [{"relation": "next", "url": page2}]
        return bundle

    fhir = FakeFhir({"Condition": conditions})
    harness = harness_with(fhir)
    prefetch = full_prefetch()
    del prefetch["conditions"]
    cards_of(harness.call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR)))
    ids = {r.get("id") for r in harness.engine.calls[0] if r["resourceType"] == "Condition"}
    assert ids == {"c1", "c2"}


def test_next_link_to_another_host_is_not_followed_and_required_data_gives_412() -> None:
    def conditions(request: httpx.Request) -> dict[str, Any]:
        bundle = searchset({"resourceType": "Condition", "id": "c1"})
        bundle["link"] = [{"relation": "next", "url": "https://evil.test/steal"}]
        return bundle

    fhir = FakeFhir({"Condition": conditions})
    prefetch = full_prefetch()
    del prefetch["conditions"]
    response = harness_with(fhir).call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR))
    assert response.status_code == 412
    assert all(r.url.host == "ehr.test" for r in fhir.requests)
    assert "conditions (conditions): not prefetched, and could not be read from fhirServer" in response.text


def test_no_prefetch_and_no_fhir_server_is_412_with_operation_outcome() -> None:
    harness = Harness()
    response = harness.call(PATIENT_VIEW_SERVICE, patient_view_request({}))
    assert response.status_code == 412
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    keys = {i["diagnostics"].split(" ")[0] for i in outcome["issue"]}
    assert keys == {q.key for q in PREFETCH if q.required}
    assert harness.engine.calls == []  # no assessment on missing data


def test_patient_null_is_412() -> None:
    prefetch = full_prefetch()
    prefetch["patient"] = None
    response = Harness().call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch))
    assert response.status_code == 412
    assert "reported no Patient" in response.text


def test_server_down_is_412_and_why_goes_to_the_log_not_to_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    caplog.set_level(logging.WARNING, logger="cds.service")
    harness = Harness(transport=httpx.MockTransport(refuse))
    response = harness.call(PATIENT_VIEW_SERVICE, patient_view_request({}, fhirServer=FHIR))
    assert response.status_code == 412
    assert "could not be read from fhirServer" in response.text
    assert "Connect" not in response.text and "refused" not in response.text
    assert "FHIR fetch for patient failed: ConnectError" in caplog.text


def test_slow_server_is_cut_off_by_the_time_budget() -> None:
    fhir = FakeFhir(delay_s=2.0)
    harness = harness_with(fhir, fhir_timeout_s=0.2)
    prefetch = full_prefetch()
    del prefetch["medicationRequests"]
    started = time.monotonic()
    response = harness.call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR))
    assert time.monotonic() - started < 1.5
    assert response.status_code == 412
    assert "medicationRequests (medication orders): not prefetched, and could not be read" in response.text


def test_missing_optional_data_gives_cards_that_say_what_was_not_checked() -> None:
    fhir = FakeFhir({"MedicationStatement": httpx.Response(500), "Procedure": httpx.Response(403)})
    prefetch = full_prefetch()
    del prefetch["medicationStatements"], prefetch["procedures"]
    cards = cards_of(
        harness_with(fhir).call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR))
    )
    gap = next(c for c in cards if c["source"]["topic"]["code"] == "data-access")
    assert gap["indicator"] == "warning"
    assert (
        gap["summary"]
        == "Checks incomplete: could not retrieve medication statements, procedures (ECT, aneurysm repair)"
    )
    # Which status the server answered is not told to the caller (it would map the network).
    assert "HTTP" not in gap["detail"] and "could not be read from fhirServer" in gap["detail"]


def test_with_records_missing_no_product_reads_as_cleared() -> None:
    fhir = FakeFhir({"MedicationStatement": httpx.Response(500)})
    prefetch = full_prefetch()
    del prefetch["medicationStatements"]
    harness = Harness(
        settings=service_settings(), engine=FakeEngine(make_assessment()), transport=fhir.transport()
    )
    cards = cards_of(harness.call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR)))
    summary = next(c for c in cards if c["source"]["topic"]["code"] == "eligibility")
    assert "appropriate on the records retrieved (checks incomplete)" in summary["detail"]
    assert "checks incomplete" in summary["summary"]


def test_no_treatment_on_record_still_warns_when_the_medication_records_could_not_be_retrieved() -> None:
    fhir = FakeFhir({"MedicationStatement": httpx.Response(500)})
    prefetch = full_prefetch()
    del prefetch["medicationStatements"]
    nothing = make_assessment(
        status="not-eligible", trials=0, esketamine="not-indicated", ketamine_iv="not-indicated"
    )
    harness = Harness(settings=service_settings(), engine=FakeEngine(nothing), transport=fhir.transport())
    cards = cards_of(harness.call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR)))
    assert any(c["source"]["topic"]["code"] == "data-access" for c in cards)


def test_plain_http_fhir_server_is_refused_unless_allowed() -> None:
    fhir = FakeFhir()
    prefetch = full_prefetch()
    del prefetch["patient"]
    body = patient_view_request(prefetch, fhirServer="http://ehr.test/fhir")
    plain = frozenset({"http://ehr.test/fhir"})
    harness = Harness(settings=service_settings(), transport=fhir.transport(), fhir_servers=plain)
    assert harness.call(PATIENT_VIEW_SERVICE, body).status_code == 412
    assert fhir.requests == []
    allowed = Harness(
        settings=service_settings(fhir_allow_http=True), transport=fhir.transport(), fhir_servers=plain
    )
    assert allowed.call(PATIENT_VIEW_SERVICE, body).status_code == 200


def test_prefetched_data_of_another_patient_is_400() -> None:
    prefetch = full_prefetch()
    prefetch["patient"] = patient_resource("someone-else")
    response = Harness().call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch))
    assert response.status_code == 400
    assert "different Patient" in response.text
    prefetch = full_prefetch()
    prefetch["conditions"] = searchset(
        {"resourceType": "Condition", "id": "x", "subject": {"reference": "Patient/someone-else"}}
    )
    response = Harness().call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch))
    assert response.status_code == 400
    assert "belongs to another patient" in response.text


def test_single_resource_and_outcome_entries_in_a_searchset_are_accepted() -> None:
    harness = Harness()
    prefetch = full_prefetch()
    prefetch["allergies"] = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": {"reference": f"Patient/{PATIENT_ID}"},
    }
    prefetch["conditions"]["entry"].append(
        {
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "warning", "code": "informational"}],
            },
            "search": {"mode": "outcome"},
        }
    )
    cards_of(harness.call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch)))
    types = [r["resourceType"] for r in harness.engine.calls[0]]
    assert "AllergyIntolerance" in types and "OperationOutcome" not in types
