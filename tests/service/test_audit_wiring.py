"""Audit: every hook call and every feedback is recorded; a failed write issues no advice."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.service.app import create_app
from cds.service.catalog import ORDER_SIGN_SERVICE, PATIENT_VIEW_SERVICE

from .builders import (
    PATIENT_ID,
    RULESET,
    finding,
    make_assessment,
    medication_request,
    order_request,
    patient_view_request,
)
from .fakes import AppClient, FakeEngine, FakeVerifier, Harness, service_settings
from .test_hook_calls import cards_of


def test_hook_call_is_recorded_with_cards_and_rule_ids() -> None:
    assessment = make_assessment(findings=[finding("precaution.hypertension", "hypertension")])
    harness = Harness(engine=FakeEngine(assessment))
    body = patient_view_request()
    cards = cards_of(harness.call(PATIENT_VIEW_SERVICE, body))
    [call] = harness.audit.calls
    assert call.hook_instance == body["hookInstance"] and call.hook == "patient-view"
    assert call.service_id == PATIENT_VIEW_SERVICE and call.status_code == 200
    assert call.patient_ref == f"Patient/{PATIENT_ID}" and call.ruleset_version == RULESET
    assert [c.uuid for c in call.cards] == [c["uuid"] for c in cards]
    by_uuid = {c.uuid: c for c in call.cards}
    hypertension = next(c for c in cards if c["source"]["topic"]["code"] == "hypertension")
    assert by_uuid[hypertension["uuid"]].rule_ids == ["precaution.hypertension"]
    assert call.latency_ms >= 0 and call.at.tzinfo is not None


def test_412_is_recorded_without_cards() -> None:
    harness = Harness()
    assert harness.call(PATIENT_VIEW_SERVICE, patient_view_request({})).status_code == 412
    [call] = harness.audit.calls
    assert call.status_code == 412 and call.cards == [] and call.ruleset_version == RULESET


def test_audit_failure_withholds_the_advice() -> None:
    harness = Harness()
    harness.audit.fail = True
    response = harness.call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=84)))
    assert response.status_code == 503
    assert "cards" not in response.text


def test_real_audit_store_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("cds.audit.store")
    from cds.audit.store import AuditStore

    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    app = create_app(
        service_settings(database_url=url),
        engine=FakeEngine(make_assessment(start_dose_mg=56)),
        verifier=FakeVerifier(),
    )
    client = AppClient(app, headers={"Authorization": "Bearer good-token"})
    response = client.post(
        f"/cds-services/{ORDER_SIGN_SERVICE}", json=order_request(medication_request(dose_mg=84))
    )
    card = cards_of(response)[0]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2025-06-02T10:06:00Z",
                "overrideReason": {"reason": card["overrideReasons"][0], "userComment": "as planned"},
            }
        ]
    }
    assert client.post(f"/cds-services/{ORDER_SIGN_SERVICE}/feedback", json=feedback).status_code == 200
    unknown = {"feedback": [{**feedback["feedback"][0], "card": "9368d37b-283f-44a0-93ea-547cebab93ed"}]}
    assert client.post(f"/cds-services/{ORDER_SIGN_SERVICE}/feedback", json=unknown).status_code == 404

    store = AuditStore(url)
    try:
        [decision] = store.recent_decisions()
        assert decision.service_id == ORDER_SIGN_SERVICE and decision.status_code == 200
        assert [c.uuid for c in decision.cards] == [card["uuid"]]
        assert decision.cards[0].outcome == "overridden"
    finally:
        store.close()
