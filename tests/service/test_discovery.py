"""Discovery: the services, their prefetch templates, the ruleset version."""

from __future__ import annotations

from cds.service.catalog import (
    ORDER_SELECT_SERVICE,
    ORDER_SERVICE,
    ORDER_SIGN_SERVICE,
    PATIENT_VIEW_SERVICE,
    PREFETCH,
    RULESET_EXTENSION,
)

from .builders import RULESET, order_request
from .conformance import check_discovery
from .fakes import Harness, service_settings


def test_discovery_conforms_and_lists_one_id_per_hook_by_default(harness: Harness) -> None:
    """A client that keys services by id (the CDS Hooks Sandbox) can call every hook."""
    response = harness.client.get("/cds-services")
    assert response.status_code == 200
    body = response.json()
    assert check_discovery(body) == []
    pairs = [(s["id"], s["hook"]) for s in body["services"]]
    assert sorted(pairs) == sorted(
        [
            (PATIENT_VIEW_SERVICE, "patient-view"),
            (ORDER_SELECT_SERVICE, "order-select"),
            (ORDER_SIGN_SERVICE, "order-sign"),
        ]
    )
    assert len({s["id"] for s in body["services"]}) == 3
    # Each id answers its own hook and no other; the shared id does not exist.
    assert harness.call(ORDER_SELECT_SERVICE, order_request(hook="order-sign")).status_code == 400
    assert harness.call(ORDER_SERVICE, order_request()).status_code == 404


def test_shared_order_id_setting_puts_select_and_sign_under_one_id() -> None:
    """For clients implementing "update stale guidance": order-sign cards replace order-select's."""
    harness = Harness(settings=service_settings(shared_order_id=True))
    body = harness.client.get("/cds-services").json()
    assert check_discovery(body) == []
    order = [s for s in body["services"] if s["id"] == ORDER_SERVICE]
    assert sorted(s["hook"] for s in order) == ["order-select", "order-sign"]
    assert {s["id"] for s in body["services"]} == {PATIENT_VIEW_SERVICE, ORDER_SERVICE}


def test_every_service_advertises_ruleset_version_prefetch_and_usage(harness: Harness) -> None:
    for service in harness.client.get("/cds-services").json()["services"]:
        assert service["extension"][RULESET_EXTENSION] == RULESET
        assert service["usageRequirements"]
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert set(service["prefetch"]) == {q.key for q in PREFETCH}
        # Generated from what the facts read: the liver labs (Child-Pugh) are asked for too.
        observations = service["prefetch"]["observations"]
        assert observations.startswith("Observation?patient={{context.patientId}}&code=")
        codes = observations.split("&code=")[1].split(",")
        assert {"85354-9", "44261-6", "1975-2", "1751-7", "6301-6"} <= set(codes)  # BP, PHQ-9, bili, alb, INR


def test_discovery_needs_no_token_by_default_but_can_require_one() -> None:
    from .fakes import service_settings

    open_discovery = Harness()
    assert open_discovery.client.get("/cds-services", headers={"Authorization": ""}).status_code == 200
    guarded = Harness(settings=service_settings(auth_discovery=True))
    assert guarded.client.get("/cds-services", headers={"Authorization": ""}).status_code == 401
    assert guarded.client.get("/cds-services").status_code == 200
    assert guarded.verifier.audiences[-1] == "https://cds.test/cds-services"


def test_conformance_checker_rejects_nested_tokens_and_unsupported_modifiers() -> None:
    bad = {
        "services": [
            {
                "hook": "order-sign",
                "id": "x",
                "description": "d",
                "title": "t",
                "prefetch": {
                    "med": "MedicationRequest/{{context.draftOrders.id}}",
                    "obs": "Observation?patient={{context.patientId}}&code:text=bp",
                },
            }
        ]
    }
    problems = check_discovery(bad)
    assert any("not a root-level prefetch token" in p for p in problems)
    assert any("modifier :text" in p for p in problems)
