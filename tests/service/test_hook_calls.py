"""Hook calls: request validation, and the right card for the right clinical situation."""

from __future__ import annotations

from typing import Any

import pytest

from cds.errors import InputError
from cds.service.catalog import ORDER_SELECT_SERVICE, ORDER_SIGN_SERVICE, PATIENT_VIEW_SERVICE

from .builders import (
    CITATION,
    PATIENT_ID,
    finding,
    make_assessment,
    medication_request,
    order_request,
    patient_view_request,
)
from .conformance import check_project_rules, check_response
from .fakes import FakeEngine, Harness


def cards_of(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert check_response(body) == []
    assert check_project_rules(body) == []
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def with_engine(assessment: Any) -> Harness:
    return Harness(engine=FakeEngine(assessment))


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.pop("hookInstance"), "hookInstance: Field required"),
        (lambda b: b["context"].pop("patientId"), "context.patientId: Field required"),
        (lambda b: b["context"].update(userId="dr-1"), "context.userId"),
        (lambda b: b["context"].update(patientId="../Patient/x"), "context.patientId"),
        (lambda b: b.update(fhirAuthorization={"access_token": "t", "token_type": "Bearer"}), "cds-r-1"),
        (lambda b: b.update(hook="order-sign"), "context.draftOrders: Field required"),
        (lambda b: b.update(hook="encounter-start"), "does not answer hook 'encounter-start'"),
        (lambda b: b.update(prefetch={"patient": "not a resource"}), "prefetch.patient"),
    ],
)
def test_invalid_requests_get_400_with_a_specific_message(
    harness: Harness, mutate: Any, message: str
) -> None:
    body = patient_view_request()
    mutate(body)
    service = {"order-sign": ORDER_SIGN_SERVICE, "order-select": ORDER_SELECT_SERVICE}.get(
        body["hook"], PATIENT_VIEW_SERVICE
    )
    response = harness.call(service, body)
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    diagnostics = " | ".join(i["diagnostics"] for i in outcome["issue"])
    assert message in diagnostics
    assert "Traceback" not in response.text


def test_malformed_json_is_400_not_a_crash(harness: Harness) -> None:
    response = harness.client.post(
        f"/cds-services/{PATIENT_VIEW_SERVICE}",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["issue"][0]["diagnostics"] == "request body is not valid JSON"


def test_unknown_service_is_404(harness: Harness) -> None:
    response = harness.call("no-such-service", patient_view_request())
    assert response.status_code == 404
    assert response.json()["issue"][0]["code"] == "not-found"


def test_400_messages_do_not_echo_submitted_values(harness: Harness) -> None:
    body = patient_view_request()
    body["context"]["patientId"] = "Jane Doe 1970-01-01"
    response = harness.call(PATIENT_VIEW_SERVICE, body)
    assert response.status_code == 400
    assert "Jane Doe" not in response.text


def test_engine_input_error_is_400_with_the_engine_message() -> None:
    harness = Harness()
    harness.engine.error = InputError("birthDate is not a date", location="prefetch entry 0")
    response = harness.call(PATIENT_VIEW_SERVICE, patient_view_request())
    assert response.status_code == 400
    assert "unusable FHIR data" in response.json()["issue"][0]["diagnostics"]


def test_engine_crash_is_500_without_traceback() -> None:
    harness = Harness()
    harness.engine.error = KeyError("Patient/secret-id")
    response = harness.call(PATIENT_VIEW_SERVICE, patient_view_request())
    assert response.status_code == 500
    assert "secret-id" not in response.text and "Traceback" not in response.text


# --- patient-view -----------------------------------------------------------------------------


def test_patient_view_summarises_eligibility_and_adds_one_card_per_concern() -> None:
    assessment = make_assessment(
        esketamine="use-with-caution",
        ketamine_iv="use-with-caution",
        findings=[
            finding("precaution.hypertension", "hypertension"),
            finding(
                "precaution.hypertension-uncontrolled", "hypertension", summary="Hypertension not controlled"
            ),
            finding(
                "interaction.benzodiazepine",
                "cns-depressant",
                category="interaction",
                evidence=("MedicationRequest/lorazepam",),
            ),
            finding("monitoring.post-dose", "post-dose-monitoring", category="monitoring", severity="info"),
        ],
    )
    cards = cards_of(with_engine(assessment).call(PATIENT_VIEW_SERVICE, patient_view_request()))
    summary = [c for c in cards if c["source"]["topic"]["code"] == "eligibility"]
    assert len(summary) == 1 and summary[0]["indicator"] == "info"
    assert (
        "Indication met" in summary[0]["summary"] and "Esketamine: use with caution" in summary[0]["summary"]
    )
    assert "| sertraline |" in summary[0]["detail"]
    # monitoring notes are folded into the summary, not a card of their own
    assert "Post dose monitoring" in summary[0]["detail"]
    topics = [c["source"]["topic"]["code"] for c in cards]
    assert topics.count("hypertension") == 1
    hypertension = next(c for c in cards if c["source"]["topic"]["code"] == "hypertension")
    assert "precaution.hypertension v1.0.0" in hypertension["source"]["label"]
    assert "precaution.hypertension-uncontrolled v1.0.0" in hypertension["source"]["label"]
    assert hypertension["source"]["url"] == "https://example.org/spravato-pi"
    assert "`Condition/c1`" in hypertension["detail"]
    assert "post-dose-monitoring" not in topics


def test_absolute_finding_is_critical_and_first() -> None:
    assessment = make_assessment(
        esketamine="contraindicated",
        ketamine_iv="contraindicated",
        findings=[
            finding("precaution.hypertension", "hypertension"),
            finding(
                "contraindication.aneurysm",
                "aneurysmal-vascular-disease",
                category="contraindication",
                severity="absolute",
            ),
        ],
    )
    cards = cards_of(with_engine(assessment).call(PATIENT_VIEW_SERVICE, patient_view_request()))
    assert [c["indicator"] for c in cards] == ["critical", "warning", "info"]
    assert cards[0]["source"]["topic"]["code"] == "aneurysmal-vascular-disease"
    assert all(r["display"] for r in cards[0]["overrideReasons"])


def test_blood_pressure_gap_suggests_ordering_a_blood_pressure_measurement() -> None:
    assessment = make_assessment(
        esketamine="insufficient-data",
        findings=[
            finding(
                "data.blood-pressure",
                "blood-pressure",
                category="data-gap",
                evidence=(),
                obtain="A blood pressure reading from today, before dosing",
                blocks=True,
            )
        ],
    )
    cards = cards_of(with_engine(assessment).call(PATIENT_VIEW_SERVICE, patient_view_request()))
    gap = next(c for c in cards if c["source"]["topic"]["code"] == "blood-pressure")
    assert gap["indicator"] == "warning"
    assert gap["selectionBehavior"] == "at-most-one"
    action = gap["suggestions"][0]["actions"][0]
    assert action["type"] == "create"
    resource = action["resource"]
    assert resource["resourceType"] == "ServiceRequest"
    assert resource["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "85354-9",
        "display": "Blood pressure panel",
    }
    assert resource["subject"] == {"reference": f"Patient/{PATIENT_ID}"}
    assert resource["requester"] == {"reference": "Practitioner/dr-1"}
    assert "To obtain: A blood pressure reading from today" in gap["detail"]


def test_patient_without_depression_treatment_gets_no_cards() -> None:
    assessment = make_assessment(
        status="not-eligible", trials=0, esketamine="not-indicated", ketamine_iv="not-indicated"
    )
    assert cards_of(with_engine(assessment).call(PATIENT_VIEW_SERVICE, patient_view_request())) == []


# --- order-select / order-sign ----------------------------------------------------------------


def test_esketamine_for_contraindicated_patient_is_a_critical_card_suggesting_removal() -> None:
    assessment = make_assessment(
        esketamine="contraindicated",
        findings=[
            finding(
                "contraindication.aneurysm",
                "aneurysmal-vascular-disease",
                category="contraindication",
                severity="absolute",
                applies_to=("esketamine", "ketamine-iv"),
            )
        ],
    )
    cards = cards_of(
        with_engine(assessment).call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=84)))
    )
    assert cards[0]["indicator"] == "critical"
    assert "contraindicated" in cards[0]["summary"] and "aneurysmal vascular disease" in cards[0]["summary"]
    action = cards[0]["suggestions"][0]["actions"][0]
    assert action == {
        "type": "delete",
        "description": "Remove the draft esketamine order",
        "resourceId": "MedicationRequest/draft-1",
    }
    # the contraindication is told once (in the critical card), and no dose card for a drug not to give
    assert len(cards) == 1


def test_esketamine_84_mg_on_day_one_gets_a_warning_with_the_corrected_order() -> None:
    harness = with_engine(make_assessment(start_dose_mg=56))
    draft = medication_request("esk-7", dose_mg=84)
    cards = cards_of(harness.call(ORDER_SIGN_SERVICE, order_request(draft)))
    [card] = cards
    assert card["indicator"] == "warning"
    assert card["summary"] == "Esketamine 84 mg ordered; start dose (us-fda) is 56 mg"
    action = card["suggestions"][0]["actions"][0]
    assert action["type"] == "update"
    corrected = action["resource"]
    assert corrected["id"] == "esk-7"
    assert corrected["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] == {
        "value": 56,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    # the rest of the order is untouched
    draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 56
    assert corrected == draft


def test_eu_profile_start_dose_28_flags_a_56_mg_order() -> None:
    harness = with_engine(make_assessment(start_dose_mg=28, profile="eu-smpc"))
    [card] = cards_of(harness.call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=56))))
    assert card["summary"] == "Esketamine 56 mg ordered; start dose (eu-smpc) is 28 mg"
    dose = card["suggestions"][0]["actions"][0]["resource"]["dosageInstruction"][0]["doseAndRate"][0]
    assert dose["doseQuantity"]["value"] == 28


def test_correct_start_dose_gives_no_dose_card() -> None:
    harness = with_engine(make_assessment(start_dose_mg=56))
    assert cards_of(harness.call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=56)))) == []


def test_84_mg_is_accepted_once_esketamine_has_been_given_before() -> None:
    prefetch = patient_view_request()["prefetch"]
    given = medication_request("esk-old", dose_mg=56)
    given["status"] = "completed"
    prefetch["medicationRequests"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": given}],
    }
    harness = with_engine(make_assessment(start_dose_mg=56))
    assert (
        cards_of(
            harness.call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=84), prefetch=prefetch))
        )
        == []
    )
    too_much = cards_of(
        harness.call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=112), prefetch=prefetch))
    )
    assert too_much[0]["summary"].startswith("Esketamine 112 mg ordered; labelled dose")
    assert (
        too_much[0]["suggestions"][0]["actions"][0]["resource"]["dosageInstruction"][0]["doseAndRate"][0][
            "doseQuantity"
        ]["value"]
        == 84
    )


def test_iv_ketamine_dose_is_checked_against_the_weight_based_dose() -> None:
    harness = with_engine(make_assessment(iv_dose_mg=34.0))
    ketamine = medication_request("ket-1", rxnorm="6130", display="ketamine", dose_mg=50, route="iv")
    [card] = cards_of(harness.call(ORDER_SIGN_SERVICE, order_request(ketamine)))
    assert card["summary"].startswith("IV ketamine 50 mg ordered; computed dose is 0.5 mg/kg")
    assert (
        card["suggestions"][0]["actions"][0]["resource"]["dosageInstruction"][0]["doseAndRate"][0][
            "doseQuantity"
        ]["value"]
        == 34
    )
    within_rounding = medication_request(
        "ket-1", rxnorm=None, text="Ketamine HCl 50 mg/mL", dose_mg=35, route="iv"
    )
    assert cards_of(harness.call(ORDER_SIGN_SERVICE, order_request(within_rounding))) == []


def test_ketamine_ordered_without_a_route_is_checked_as_iv_ketamine() -> None:
    harness = with_engine(make_assessment(iv_dose_mg=34.0))
    no_route = medication_request("ket-2", rxnorm="6130", display="ketamine", dose_mg=50)
    [card] = cards_of(harness.call(ORDER_SIGN_SERVICE, order_request(no_route)))
    assert card["summary"].startswith("IV ketamine 50 mg ordered")


def test_drafts_for_other_drugs_get_no_cards_and_no_data_is_fetched() -> None:
    harness = Harness()
    sertraline = medication_request("ser-1", rxnorm="36437", display="sertraline")
    ketamine_im = medication_request("ket-im", rxnorm="6130", display="ketamine", route="Intramuscular")
    body = order_request(sertraline, ketamine_im, prefetch={})
    response = harness.call(ORDER_SIGN_SERVICE, body)
    assert response.status_code == 200  # no prefetch and no fhirServer, yet no 412: nothing to check
    assert response.json() == {"cards": []}
    assert harness.engine.calls == []


def test_sandbox_shaped_draft_orders_are_accepted() -> None:
    draft = medication_request("sbx-1", rxnorm=None, text="Spravato 28 mg nasal spray", dose_mg=84)
    draft["category"] = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                "code": "outpatient",
            }
        ]
    }
    body = order_request(draft, hook="order-select", bundle_type=None)
    cards = cards_of(Harness().call(ORDER_SELECT_SERVICE, body))
    corrected = cards[0]["suggestions"][0]["actions"][0]["resource"]
    assert isinstance(corrected["category"], list)  # repaired to R4's shape


def test_order_select_checks_only_the_selected_orders() -> None:
    harness = with_engine(make_assessment(start_dose_mg=56))
    esk = medication_request("esk-1", dose_mg=84)
    other = medication_request("ser-1", rxnorm="36437", display="sertraline")
    body = order_request(esk, other, hook="order-select", selections=["MedicationRequest/ser-1"])
    assert cards_of(harness.call(ORDER_SELECT_SERVICE, body)) == []
    body = order_request(esk, other, hook="order-select", selections=["MedicationRequest/esk-1"])
    assert len(cards_of(harness.call(ORDER_SELECT_SERVICE, body))) == 1


def test_other_draft_orders_reach_the_engine_but_the_ketamine_order_does_not() -> None:
    harness = Harness()
    lorazepam = medication_request("lor-1", rxnorm="6470", display="lorazepam 1 MG Oral Tablet")
    harness.call(ORDER_SIGN_SERVICE, order_request(medication_request("esk-1"), lorazepam))
    [resources] = harness.engine.calls
    ids = {(r["resourceType"], r.get("id")) for r in resources}
    assert ("MedicationRequest", "lor-1") in ids
    assert ("MedicationRequest", "esk-1") not in ids


def test_order_findings_are_limited_to_the_ordered_product() -> None:
    assessment = make_assessment(
        findings=[
            finding("precaution.uropathy", "ketamine-uropathy", applies_to=("ketamine-iv",)),
            finding("interaction.maoi", "maoi", category="interaction", applies_to=("esketamine",)),
        ]
    )
    cards = cards_of(with_engine(assessment).call(ORDER_SIGN_SERVICE, order_request(medication_request())))
    assert [c["source"]["topic"]["code"] for c in cards] == ["maoi"]


def test_not_indicated_order_is_a_warning() -> None:
    assessment = make_assessment(status="not-eligible", trials=1, esketamine="not-indicated")
    [card] = cards_of(with_engine(assessment).call(ORDER_SIGN_SERVICE, order_request(medication_request())))
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Esketamine ordered but the indication is not met")


def test_order_sign_without_a_dose_offers_the_computed_dose() -> None:
    harness = with_engine(make_assessment(start_dose_mg=56))
    [card] = cards_of(harness.call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=None))))
    assert card["indicator"] == "info"
    assert "no dose is given" in card["summary"]
    # at order-select details may still be missing: no card
    assert (
        cards_of(
            harness.call(
                ORDER_SELECT_SERVICE, order_request(medication_request(dose_mg=None), hook="order-select")
            )
        )
        == []
    )


def test_esketamine_ordered_while_the_indication_is_unsettled_gets_a_warning_not_just_info() -> None:
    """A non-blocking treatment-history gap alone would be an info card: the order must meet a warning."""
    assessment = make_assessment(
        esketamine="insufficient-data",
        status="insufficient-data",
        findings=[
            finding(
                "data-gap.treatment-history",
                "treatment-history",
                category="data-gap",
                severity="info",
                evidence=(),
                obtain="Record the daily dose of each antidepressant",
            )
        ],
    )
    order = medication_request("esk-9", rxnorm="2201625", display="Spravato", dose_mg=56)
    cards = cards_of(with_engine(assessment).call(ORDER_SIGN_SERVICE, order_request(order)))
    assert "warning" in [c["indicator"] for c in cards]
    assert any("cannot be cleared" in c["summary"] for c in cards)


def test_citation_links_are_card_links_not_links_in_the_detail(harness: Harness) -> None:
    """A link in the Markdown detail opens in the client's own frame (the CDS Hooks Sandbox leaves the
    EHR view); as a card link of type absolute the client opens it as a link."""
    cards = cards_of(harness.call(PATIENT_VIEW_SERVICE, patient_view_request()))
    assert cards
    for card in cards:
        assert "](http" not in card.get("detail", ""), card["summary"]
    links = [link for card in cards for link in card.get("links", [])]
    assert {"label": CITATION.label, "url": CITATION.url, "type": "absolute"} in links
    assert any(CITATION.label in card.get("detail", "") for card in cards)  # the label stays as text
