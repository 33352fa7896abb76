"""Feedback endpoint: validation per the 2.0.1 text (cds-fb-1..3), unknown cards, storage."""

from __future__ import annotations

from typing import Any

import pytest

from cds.service.catalog import ORDER_SIGN_SERVICE, PATIENT_VIEW_SERVICE

from .builders import make_assessment, medication_request, order_request
from .conformance import check_feedback_request
from .fakes import FakeEngine, Harness


def issued_card(harness: Harness) -> dict[str, Any]:
    response = harness.call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=84)))
    card: dict[str, Any] = response.json()["cards"][0]
    return card


def post(harness: Harness, service: str, body: Any) -> Any:
    return harness.client.post(f"/cds-services/{service}/feedback", json=body)


def test_accepted_and_overridden_feedback_is_stored() -> None:
    harness = Harness(engine=FakeEngine(make_assessment(start_dose_mg=56)))
    card = issued_card(harness)
    body = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2025-06-02T10:05:31Z",
            },
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2025-06-02T10:06:00Z",
                "overrideReason": {"reason": card["overrideReasons"][0], "userComment": "titrating"},
            },
        ]
    }
    assert check_feedback_request(body) == []
    response = post(harness, ORDER_SIGN_SERVICE, body)
    assert response.status_code == 200
    first, second = harness.audit.feedback
    assert first.card_uuid == card["uuid"] and first.service_id == ORDER_SIGN_SERVICE
    assert first.accepted_suggestions == [card["suggestions"][0]["uuid"]]
    assert second.outcome == "overridden"
    assert second.override_reason == {"reason": card["overrideReasons"][0], "userComment": "titrating"}


def test_unknown_card_is_404_and_nothing_is_stored(harness: Harness) -> None:
    card = issued_card(harness)
    body = {
        "feedback": [
            {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2025-06-02T10:06:00Z"},
            {
                "card": "00000000-0000-4000-8000-000000000000",
                "outcome": "overridden",
                "outcomeTimestamp": "2025-06-02T10:06:00Z",
            },
        ]
    }
    response = post(harness, ORDER_SIGN_SERVICE, body)
    assert response.status_code == 404
    assert harness.audit.feedback == []


def test_card_of_another_service_is_404(harness: Harness) -> None:
    card = issued_card(harness)
    body = {
        "feedback": [
            {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2025-06-02T10:06:00Z"}
        ]
    }
    assert post(harness, PATIENT_VIEW_SERVICE, body).status_code == 404
    assert post(harness, "nope", body).status_code == 404


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"outcome": "accepted", "outcomeTimestamp": "2025-06-02T10:00:00Z"}, "cds-fb-2"),
        ({"outcome": "ignored", "outcomeTimestamp": "2025-06-02T10:00:00Z"}, "outcome"),
        ({"outcome": "overridden"}, "outcomeTimestamp: Field required"),
        ({"outcome": "overridden", "outcomeTimestamp": "2025-06-02T10:00:00"}, "outcomeTimestamp"),
        (
            {"outcome": "overridden", "outcomeTimestamp": "2025-06-02T10:00:00Z", "overrideReason": {}},
            "cds-fb-3",
        ),
    ],
)
def test_invalid_feedback_is_400(harness: Harness, item: dict[str, Any], message: str) -> None:
    card = issued_card(harness)
    response = post(harness, ORDER_SIGN_SERVICE, {"feedback": [{"card": card["uuid"], **item}]})
    assert response.status_code == 400
    assert message in " ".join(i["diagnostics"] for i in response.json()["issue"])
    assert harness.audit.feedback == []


def test_empty_feedback_array_is_400(harness: Harness) -> None:
    assert post(harness, ORDER_SIGN_SERVICE, {"feedback": []}).status_code == 400
