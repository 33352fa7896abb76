"""Client authentication, CORS, body size limit, settings, and no patient data in logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cds.service.app import create_app
from cds.service.catalog import ORDER_SIGN_SERVICE, PATIENT_VIEW_SERVICE
from cds.service.settings import Settings, SettingsError

from .builders import BASE_URL, PATIENT_ID, patient_view_request
from .fakes import AppClient, FakeAudit, FakeEngine, Harness, service_settings


def test_hook_call_without_valid_jwt_is_a_bare_401(harness: Harness) -> None:
    for header in ("", "Bearer forged"):
        response = harness.call(
            PATIENT_VIEW_SERVICE, patient_view_request(), headers={"Authorization": header}
        )
        assert response.status_code == 401
        assert response.content == b""
        assert response.headers["www-authenticate"] == "Bearer"
    assert harness.engine.calls == [] and harness.audit.calls == []


def test_jwt_audience_is_the_endpoint_called(harness: Harness) -> None:
    harness.call(ORDER_SIGN_SERVICE, patient_view_request())
    harness.client.post(f"/cds-services/{ORDER_SIGN_SERVICE}/feedback", json={"feedback": []})
    assert harness.verifier.audiences == [
        f"{BASE_URL}/cds-services/{ORDER_SIGN_SERVICE}",
        f"{BASE_URL}/cds-services/{ORDER_SIGN_SERVICE}/feedback",
    ]


def test_authentication_comes_before_the_404_and_the_400(harness: Harness) -> None:
    no_token = {"Authorization": ""}
    assert harness.call("no-such-service", {}, headers=no_token).status_code == 401
    assert (
        harness.client.post(
            f"/cds-services/{PATIENT_VIEW_SERVICE}", content=b"{", headers=no_token
        ).status_code
        == 401
    )


def test_auth_off_is_explicit_and_warns_on_every_start(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env({"CDS_AUTH": "off"})
    with caplog.at_level(logging.WARNING, logger="cds.service"):
        app = create_app(settings, engine=FakeEngine(), audit=FakeAudit())
        create_app(settings, engine=FakeEngine(), audit=FakeAudit())
    warnings = [r for r in caplog.records if "CDS_AUTH=off" in r.getMessage()]
    assert len(warnings) == 2 and all(r.levelno == logging.WARNING for r in warnings)
    response = AppClient(app).post(f"/cds-services/{PATIENT_VIEW_SERVICE}", json=patient_view_request())
    assert response.status_code == 200


def test_auth_on_without_trusted_issuers_or_base_url_refuses_to_start() -> None:
    with pytest.raises(SettingsError, match="CDS_TRUSTED_ISSUERS"):
        Settings.from_env({})
    with pytest.raises(SettingsError, match="CDS_PUBLIC_BASE_URL"):
        Settings.from_env({"CDS_TRUSTED_ISSUERS": "/etc/issuers.yaml"})
    with pytest.raises(SettingsError, match="CDS_AUTH must be 'on' or 'off'"):
        Settings.from_env({"CDS_AUTH": "maybe"})


def test_settings_from_environment() -> None:
    settings = Settings.from_env(
        {
            "CDS_DATABASE_URL": "postgresql+psycopg://db/cds",
            "CDS_TRUSTED_ISSUERS": "/etc/cds/issuers.yaml",
            "CDS_PUBLIC_BASE_URL": "https://cds.example.org/",
            "CDS_CORS_ORIGINS": "https://sandbox.cds-hooks.org, http://localhost:3000",
            "CDS_FHIR_TIMEOUT_S": "2.5",
            "CDS_MAX_BODY_BYTES": "1000",
            "CDS_PROFILE": "eu-smpc",
        }
    )
    assert settings.database_url == "postgresql+psycopg://db/cds"
    assert settings.trusted_issuers == Path("/etc/cds/issuers.yaml")
    assert settings.public_base_url == "https://cds.example.org"
    assert settings.cors_origins == ("https://sandbox.cds-hooks.org", "http://localhost:3000")
    assert settings.fhir_timeout_s == 2.5 and settings.max_body_bytes == 1000
    assert settings.profile == "eu-smpc" and settings.auth is True
    with pytest.raises(SettingsError, match="CDS_FHIR_TIMEOUT_S must be a number"):
        Settings.from_env({"CDS_AUTH": "off", "CDS_FHIR_TIMEOUT_S": "soon"})


def test_cors_preflight_for_a_configured_origin_only() -> None:
    harness = Harness(settings=service_settings(cors_origins=("https://sandbox.cds-hooks.org",)))
    preflight = {
        "Origin": "https://sandbox.cds-hooks.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    ok = harness.client.options(f"/cds-services/{PATIENT_VIEW_SERVICE}", headers=preflight)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    refused = harness.client.options(
        f"/cds-services/{PATIENT_VIEW_SERVICE}", headers={**preflight, "Origin": "https://evil.test"}
    )
    assert "access-control-allow-origin" not in refused.headers
    assert harness.verifier.audiences == []  # preflight carries no token and needs none


def test_body_over_the_limit_is_413_before_parsing() -> None:
    harness = Harness(settings=service_settings(max_body_bytes=2000))
    body = patient_view_request()
    body["context"]["padding"] = "x" * 5000
    response = harness.call(PATIENT_VIEW_SERVICE, body)
    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"
    assert harness.engine.calls == []
    assert harness.call(PATIENT_VIEW_SERVICE, patient_view_request()).status_code == 200


def test_no_patient_data_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness()
    with caplog.at_level(logging.DEBUG):
        harness.call(PATIENT_VIEW_SERVICE, patient_view_request())
        harness.call(PATIENT_VIEW_SERVICE, patient_view_request({}))  # 412
        harness.engine.error = KeyError(f"Patient/{PATIENT_ID}")
        harness.call(PATIENT_VIEW_SERVICE, patient_view_request())  # 500
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "hook call" in text
    assert PATIENT_ID not in text and "1980-01-01" not in text


def test_health_and_openapi_docs(harness: Harness) -> None:
    health = harness.client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    schema = harness.client.get("/openapi.json").json()
    assert "HookRequest" in schema["components"]["schemas"]
    assert harness.client.get("/docs").status_code == 200


def test_hardening_settings_from_environment() -> None:
    settings = Settings.from_env(
        {
            "CDS_AUTH": "off",
            "CDS_SHARED_ORDER_ID": "on",
            "CDS_BODY_TIMEOUT_S": "12.5",
            "CDS_KEEP_ALIVE_S": "7",
            "CDS_FHIR_SERVERS": "https://EHR.example:443/fhir/, http://127.0.0.1:8080/fhir",
            "CDS_FHIR_MAX_RESPONSE_BYTES": "1000",
            "CDS_FHIR_MAX_DECODED_BYTES": "2000",
            "CDS_REPORT_FRAME_ANCESTORS": "https://ehr.example",
        }
    )
    assert settings.shared_order_id is True
    assert settings.body_timeout_s == 12.5 and settings.keep_alive_s == 7
    assert settings.fhir_servers == frozenset({"https://ehr.example/fhir", "http://127.0.0.1:8080/fhir"})
    assert (settings.fhir_max_response_bytes, settings.fhir_max_decoded_bytes) == (1000, 2000)
    assert settings.report_frame_ancestors == "https://ehr.example"
    defaults = Settings.from_env({"CDS_AUTH": "off"})
    assert defaults.shared_order_id is False and defaults.fhir_servers is None
    assert defaults.report_frame_ancestors == "'none'"
    with pytest.raises(SettingsError, match=r"CDS_FHIR_SERVERS: 'ehr\.example' is not an absolute"):
        Settings.from_env({"CDS_AUTH": "off", "CDS_FHIR_SERVERS": "ehr.example"})
    with pytest.raises(SettingsError, match="CDS_FHIR_SERVERS applies with CDS_AUTH=off only"):
        Settings.from_env(
            {
                "CDS_TRUSTED_ISSUERS": "/etc/i.yaml",
                "CDS_PUBLIC_BASE_URL": "https://cds.example.org",
                "CDS_FHIR_SERVERS": "https://ehr.example/fhir",
            }
        )
