"""Discovery: the services, their prefetch templates, the ruleset version."""

from __future__ import annotations

from cds.service.catalog import ORDER_SERVICE, PATIENT_VIEW_SERVICE, PREFETCH, RULESET_EXTENSION

from .builders import RULESET
from .conformance import check_discovery
from .fakes import Harness


def test_discovery_conforms_and_lists_the_three_hooks(harness: Harness) -> None:
    response = harness.client.get("/cds-services")
    assert response.status_code == 200
    body = response.json()
    assert check_discovery(body) == []
    pairs = {(s["id"], s["hook"]) for s in body["services"]}
    assert pairs == {
        (PATIENT_VIEW_SERVICE, "patient-view"),
        (ORDER_SERVICE, "order-select"),
        (ORDER_SERVICE, "order-sign"),
    }


def test_order_service_uses_one_id_for_select_and_sign_so_sign_guidance_replaces_select(
    harness: Harness,
) -> None:
    services = harness.client.get("/cds-services").json()["services"]
    order = [s for s in services if s["id"] == ORDER_SERVICE]
    assert sorted(s["hook"] for s in order) == ["order-select", "order-sign"]


def test_every_service_advertises_ruleset_version_prefetch_and_usage(harness: Harness) -> None:
    for service in harness.client.get("/cds-services").json()["services"]:
        assert service["extension"][RULESET_EXTENSION] == RULESET
        assert service["usageRequirements"]
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert set(service["prefetch"]) == {q.key for q in PREFETCH}
        assert (
            service["prefetch"]["vitalSigns"]
            == "Observation?patient={{context.patientId}}&category=vital-signs"
        )


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
