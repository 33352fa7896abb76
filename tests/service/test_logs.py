"""Logs (issue 11, item 6): no request value forges a log line; no patient id in any line.

The whole-run check (every log record of the service tests, grepped for the patient ids they
used) is the session fixture `service_log` in conftest.py; these tests aim at the known holes."""

from __future__ import annotations

import logging

import httpx
import pytest

from cds.service.catalog import PATIENT_VIEW_SERVICE
from cds.service.logs import EscapeControl, escape_control

from .builders import FHIR_BASE, PATIENT_ID, full_prefetch, patient_view_request
from .fakes import Harness


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\nb", "a\\x0ab"),
        ("a\r\nINFO forged", "a\\x0d\\x0aINFO forged"),
        ("nul\x00", "nul\\x00"),
        ("esc\x1b[31m", "esc\\x1b[31m"),
        ("c1\x85", "c1\\x85"),
        ("ls\u2028", "ls\\u2028"),
        ("plain text, é ü ✓", "plain text, é ü ✓"),
    ],
)
def test_control_characters_are_escaped(raw: str, shown: str) -> None:
    assert escape_control(raw) == shown


def lines_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [line for r in caplog.records for line in r.getMessage().split("\n")]


def test_a_newline_in_hook_instance_cannot_forge_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = patient_view_request(hookInstance="abc\nERROR cds.service forged\x00")
    assert Harness().call(PATIENT_VIEW_SERVICE, body).status_code == 200
    [line] = [r.getMessage() for r in caplog.records if "hook call" in r.getMessage()]
    assert "\n" not in line and "\x00" not in line
    assert "abc\\x0aERROR cds.service forged\\x00" in line


def test_a_newline_in_the_url_path_cannot_forge_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    harness = Harness()
    response = harness.client.post(
        "/cds-services/x%0AWARNING%20cds.service%20forged%00",
        json={},
        headers={"Authorization": "Bearer bad"},
    )
    assert response.status_code == 401
    failures = [r for r in caplog.records if "authentication failed" in r.getMessage()]
    assert failures, "the refusal is logged"
    assert all("\n" not in r.getMessage() and "\x00" not in r.getMessage() for r in failures)
    assert not any(line.startswith("WARNING cds.service forged") for line in lines_of(caplog))


def test_the_escaping_filter_applies_to_every_handler_after_install() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "value=%s", ("a\nb",), None)
    assert EscapeControl().filter(record) is True
    assert record.getMessage() == "value=a\\x0ab"


def test_fallback_fetches_log_no_url_and_no_patient_id(caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs every request URL (Condition?patient=Patient/<id>) at INFO: silenced."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(f"Patient/{PATIENT_ID}"):
            return httpx.Response(200, json={"resourceType": "Patient", "id": PATIENT_ID})
        return httpx.Response(503)

    caplog.set_level(logging.DEBUG)
    prefetch = full_prefetch()
    del prefetch["patient"], prefetch["procedures"]
    harness = Harness(transport=httpx.MockTransport(answer))
    assert (
        harness.call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR_BASE)).status_code
        == 200
    )
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "FHIR fetch for procedures failed: HTTP 503" in text
    assert PATIENT_ID not in text and "ehr.test" not in text
