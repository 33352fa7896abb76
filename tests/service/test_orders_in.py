"""Draft orders as clients send them (issue 11, items 3 and 4): devices and unit counts converted
through the product's strength; orders that cannot be this patient's order refused (400)."""

from __future__ import annotations

from typing import Any

import pytest

from cds.service.catalog import ORDER_SELECT_SERVICE, ORDER_SIGN_SERVICE

from .builders import make_assessment, medication_request, order_request
from .fakes import FakeEngine, Harness
from .test_hook_calls import cards_of


def harness() -> Harness:
    return Harness(engine=FakeEngine(make_assessment(start_dose_mg=56)))


def dose_cards(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cards if " mg ordered" in c["summary"] or "dose not checked" in c["summary"]]


@pytest.mark.parametrize("unit", ["{pill}", "{device}", "{Device}"])
def test_esketamine_in_devices_is_converted_at_28_mg_per_device(unit: str) -> None:
    """The Sandbox orders SPRAVATO as a count in {pill}: 2 devices = 56 mg (the start dose, no card),
    3 devices = 84 mg (over the day-1 dose: a warning that names 84 mg)."""
    h = harness()
    assert (
        dose_cards(
            cards_of(h.call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=2, unit=unit))))
        )
        == []
    )
    [card] = dose_cards(
        cards_of(h.call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=3, unit=unit))))
    )
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Esketamine 84 mg ordered")


@pytest.mark.parametrize("unit", ["{spray}", "mL", ""])
def test_a_dose_that_cannot_be_converted_is_a_warning_at_order_sign(unit: str) -> None:
    """A signed order whose dose nobody could check is not an info card."""
    [card] = dose_cards(
        cards_of(harness().call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=2, unit=unit))))
    )
    assert card["indicator"] == "warning"
    assert "cannot be converted to mg" in card["summary"]
    assert card["suggestions"][0]["actions"][0]["type"] == "update"


def test_ketamine_in_devices_is_not_converted() -> None:
    """The device strength is esketamine's: an IV ketamine order in {pill} is not read as 28 mg each."""
    ketamine = medication_request(
        "ket-1", rxnorm="6130", display="ketamine", dose_mg=2, unit="{pill}", route="iv"
    )
    h = Harness(engine=FakeEngine(make_assessment(start_dose_mg=56)))
    cards = dose_cards(cards_of(h.call(ORDER_SIGN_SERVICE, order_request(ketamine))))
    assert all("28" not in c["summary"] and "56 mg ordered" not in c["summary"] for c in cards)


def _dose_value(value: Any) -> dict[str, Any]:
    draft = medication_request()
    draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = value
    return draft


@pytest.mark.parametrize(
    ("draft", "field", "why"),
    [
        (_dose_value(0), "doseQuantity.value", "greater than zero"),
        (_dose_value(-56), "doseQuantity.value", "greater than zero"),
        (_dose_value("56"), "doseQuantity.value", "must be a number"),
        (_dose_value(True), "doseQuantity.value", "must be a number"),
        (
            {**medication_request(), "subject": {"reference": "Patient/someone-else"}},
            "resource.subject",
            "not the context patient",
        ),
        ({**medication_request(), "subject": "Patient/pat-1"}, "resource.subject", "Reference"),
    ],
    ids=["zero", "negative", "string", "boolean", "other-patient", "subject-not-reference"],
)
@pytest.mark.parametrize("service", [ORDER_SIGN_SERVICE, ORDER_SELECT_SERVICE])
def test_a_draft_that_cannot_be_this_patients_order_is_400_naming_the_field(
    draft: dict[str, Any], field: str, why: str, service: str
) -> None:
    h = harness()
    hook = "order-sign" if service == ORDER_SIGN_SERVICE else "order-select"
    selections = ["MedicationRequest/esk-1"] if hook == "order-select" else None
    response = h.call(service, order_request(draft, hook=hook, selections=selections))
    assert response.status_code == 400, response.text
    [issue] = response.json()["issue"]
    assert issue["diagnostics"].startswith("context.draftOrders.entry[0].")
    assert field in issue["diagnostics"] and why in issue["diagnostics"]
    assert h.engine.calls == []  # nothing assessed
    assert "someone-else" not in response.text


def test_a_draft_of_another_patient_is_refused_even_when_not_ketamine() -> None:
    """Other drafts join the assessment (interactions): another patient's would leak into it."""
    other = medication_request("ser-1", rxnorm="36437", display="sertraline")
    other["subject"] = {"reference": "Patient/someone-else"}
    response = harness().call(ORDER_SIGN_SERVICE, order_request(medication_request(), other))
    assert response.status_code == 400
    assert "entry[1].resource.subject" in response.text


@pytest.mark.parametrize(
    ("dosage", "field"),
    [
        ("as directed", "dosageInstruction must be a list"),
        ({"text": "as directed"}, "dosageInstruction must be a list"),
        ([{"doseAndRate": {"doseQuantity": {"value": 56}}}], "doseAndRate must be a list"),
        ([{"doseAndRate": [{"doseQuantity": 56}]}], "doseQuantity must be a Quantity"),
        (["56 mg"], "dosageInstruction must be a list of Dosage objects"),
    ],
)
def test_malformed_dosage_instruction_is_400_never_500(dosage: Any, field: str) -> None:
    draft = {**medication_request(), "dosageInstruction": dosage}
    response = harness().call(ORDER_SIGN_SERVICE, order_request(draft))
    assert response.status_code == 400, response.text
    assert field in response.text


@pytest.mark.parametrize(
    "reference",
    ["Patient/pat-1", "https://ehr.test/fhir/Patient/pat-1", "Patient/pat-1/_history/2", "urn:uuid:1"],
)
def test_a_subject_that_is_the_context_patient_or_cannot_be_compared_is_accepted(reference: str) -> None:
    draft = {**medication_request(), "subject": {"reference": reference}}
    assert harness().call(ORDER_SIGN_SERVICE, order_request(draft)).status_code == 200


@pytest.mark.parametrize(
    "reference", ["Patient/pat-10", "Group/pat-1", "https://ehr.test/fhir/Patient/other"]
)
def test_a_subject_that_is_another_patient_or_not_a_patient_is_refused(reference: str) -> None:
    draft = {**medication_request(), "subject": {"reference": reference}}
    assert harness().call(ORDER_SIGN_SERVICE, order_request(draft)).status_code == 400


def _kit(ndc: str | None, display: str, count: float, unit: str) -> dict[str, Any]:
    draft = medication_request(dose_mg=count, unit=unit, rxnorm=None, text=display)
    if ndc:
        draft["medicationCodeableConcept"]["coding"] = [
            {"system": "http://hl7.org/fhir/sid/ndc", "code": ndc, "display": display}
        ]
    draft["medicationCodeableConcept"]["text"] = "esketamine " + display
    return draft


@pytest.mark.parametrize(
    ("ndc", "count", "unit", "ordered"),
    [
        ("50458-028-03", 1, "{kit}", "84 mg ordered"),  # one 84 mg kit on day 1: over the start dose
        ("50458-028-03", 1, "{each}", "84 mg ordered"),
        ("50458-028-02", 2, "{pill}", "112 mg ordered"),
    ],
)
def test_a_count_of_dose_kits_is_read_through_the_kit_not_as_devices(
    ndc: str, count: float, unit: str, ordered: str
) -> None:
    """Read as 28 mg devices, one 84 mg kit would look like 28 mg, and the day-1 overdose would go
    unwarned."""
    draft = _kit(ndc, "Spravato dose kit", count, unit)
    [card] = dose_cards(cards_of(harness().call(ORDER_SIGN_SERVICE, order_request(draft))))
    assert card["indicator"] == "warning" and ordered in card["summary"]


def test_a_kit_of_unknown_size_or_a_device_count_in_kits_is_not_converted() -> None:
    unknown = _kit(None, "Spravato dose kit", 1, "{each}")
    [card] = dose_cards(cards_of(harness().call(ORDER_SIGN_SERVICE, order_request(unknown))))
    assert card["indicator"] == "warning" and "cannot be converted to mg" in card["summary"]
    devices_in_kits = medication_request(dose_mg=1, unit="{kit}")
    [card] = dose_cards(cards_of(harness().call(ORDER_SIGN_SERVICE, order_request(devices_in_kits))))
    assert card["indicator"] == "warning" and "cannot be converted to mg" in card["summary"]
