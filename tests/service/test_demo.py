"""The demo (issue 4): the ready-made requests in fhir/examples/hooks/ sent to the real service
(real pipeline, real audit database, CDS_AS_OF pinned to the records' date), the same data fetched
from a real FHIR server instead, a stopped FHIR server, feedback seen by `cds audit`, and the
CDS Hooks specification's own example requests."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds.service.app import create_app
from cds.service.catalog import ORDER_SELECT_SERVICE, ORDER_SIGN_SERVICE, PATIENT_VIEW_SERVICE
from cds.service.settings import Settings, SettingsError

from .conftest import ROOT, FhirServer, run_fhir_server
from .fakes import AppClient
from .test_hook_calls import cards_of

HOOKS = ROOT / "fhir" / "examples" / "hooks"
AS_OF = date(2025, 6, 2)
PV_TRD = "patient-view-trd.json"
SIGN_TRD_84 = "order-sign-trd-esketamine-84mg.json"
SELECT_ANEURYSM = "order-select-aneurysm-esketamine.json"
SERVICE = {
    PV_TRD: PATIENT_VIEW_SERVICE,
    SIGN_TRD_84: ORDER_SIGN_SERVICE,
    SELECT_ANEURYSM: ORDER_SELECT_SERVICE,
}
SPEC = ROOT.parent / "shared" / "spec" / "cds-hooks"


def demo_client(tmp_path: Path, **settings: Any) -> AppClient:
    """The service as `make run` starts it: auth off, CDS_AS_OF, a SQLite file, the real engine."""
    values: dict[str, Any] = {
        "auth": False,
        "as_of": AS_OF,
        "database_url": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
    }
    values.update(settings)
    return AppClient(create_app(Settings(**values)))


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((HOOKS / name).read_text(encoding="utf-8"))
    return body


def send(client: AppClient, name: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(f"/cds-services/{SERVICE[name]}", json=example(name) if body is None else body)


def gist(cards: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """What a clinician sees of a card, without its per-call uuid and report link."""
    return [(c["indicator"], c["summary"], c["source"]["topic"]["code"]) for c in cards]


def update_dose(card: dict[str, Any]) -> tuple[str, float]:
    [action] = [a for s in card["suggestions"] for a in s["actions"] if a["type"] == "update"]
    resource = action["resource"]
    return resource["id"], resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fallback(body: dict[str, Any], fhir_base: str) -> dict[str, Any]:
    """The same request with every prefetch key omitted: the service must fetch from fhirServer."""
    out = {k: v for k, v in body.items() if k != "prefetch"}
    out["fhirServer"] = fhir_base
    out["fhirAuthorization"] = {
        "access_token": "demo-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/*.read",
        "subject": "ketamine-cds",
    }
    return out


def load_example_patient(server: FhirServer, name: str) -> None:
    server.load(json.loads((ROOT / "fhir" / "examples" / f"{name}.json").read_text(encoding="utf-8")))


# --- the example requests ------------------------------------------------------------------------


def test_example_requests_are_generated_from_the_example_patients_and_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_hook_examples.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in HOOKS.glob("*.json")) == sorted(SERVICE)


def test_patient_view_of_the_trd_patient_is_an_info_summary_card_with_its_report(tmp_path: Path) -> None:
    client = demo_client(tmp_path)
    cards = cards_of(send(client, PV_TRD))
    assert cards and {c["indicator"] for c in cards} == {"info"}
    summary = next(c for c in cards if c["source"]["topic"]["code"] == "eligibility")
    assert summary["summary"].startswith("Indication met (treatment-resistant depression)")
    assert "Esketamine: appropriate" in summary["summary"]
    page = client.get(summary["links"][0]["url"].removeprefix("http://testserver"))
    assert page.status_code == 200 and "Appropriate" in page.text and "trd-eligible" in page.text


def test_order_sign_esketamine_84_mg_on_day_one_is_a_warning_updating_the_order_to_56_mg(
    tmp_path: Path,
) -> None:
    cards = cards_of(send(demo_client(tmp_path), SIGN_TRD_84))
    dose = next(c for c in cards if c["source"]["topic"]["code"] == "dose-schedule")
    assert dose["indicator"] == "warning" and cards[0] is dose  # the most severe card
    assert update_dose(dose) == ("draft-esketamine-84mg", 56)


def test_order_select_esketamine_for_the_aneurysm_patient_is_critical(tmp_path: Path) -> None:
    cards = cards_of(send(demo_client(tmp_path), SELECT_ANEURYSM))
    assert cards[0]["indicator"] == "critical"
    assert cards[0]["source"]["topic"]["code"] == "aneurysmal-vascular-disease"
    delete = cards[0]["suggestions"][0]["actions"][0]
    assert delete == {**delete, "type": "delete", "resourceId": "MedicationRequest/draft-esketamine-56mg"}


def test_without_cds_as_of_the_stale_example_record_is_not_cleared(tmp_path: Path) -> None:
    """Why the demo pins the date: evaluated today, the example vitals are months old."""
    cards = cards_of(send(demo_client(tmp_path, as_of=None), PV_TRD))
    assert any(c["indicator"] != "info" for c in cards)


# --- CDS_AS_OF ---------------------------------------------------------------------------------


def test_cds_as_of_is_read_from_the_environment_warns_at_every_start_and_shows_in_health(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"CDS_AUTH": "off", "CDS_AS_OF": "2025-06-02", "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"}
    settings = Settings.from_env(env)
    assert settings.as_of == AS_OF
    for _ in range(2):
        caplog.clear()
        client = AppClient(create_app(settings))
        assert any(
            r.levelname == "WARNING" and "CDS_AS_OF=2025-06-02" in r.getMessage() for r in caplog.records
        )
    assert client.get("/health").json()["asOf"] == "2025-06-02"
    assert (
        "asOf" not in AppClient(create_app(Settings.from_env({**env, "CDS_AS_OF": ""}))).get("/health").json()
    )


@pytest.mark.parametrize("value", ["02/06/2025", "20250602", "2025-02-30", "today"])
def test_malformed_cds_as_of_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="CDS_AS_OF must be a date YYYY-MM-DD"):
        Settings.from_env({"CDS_AUTH": "off", "CDS_AS_OF": value})


def test_report_ttl_setting() -> None:
    assert Settings.from_env({"CDS_AUTH": "off"}).report_ttl_hours == 24
    assert Settings.from_env({"CDS_AUTH": "off", "CDS_REPORT_TTL_HOURS": "0.5"}).report_ttl_hours == 0.5
    for bad in ("0", "-1", "soon"):
        with pytest.raises(SettingsError, match=r"CDS_REPORT_TTL_HOURS|report_ttl_hours"):
            Settings.from_env({"CDS_AUTH": "off", "CDS_REPORT_TTL_HOURS": bad})


# --- the same cards from a real FHIR server; a stopped one --------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "patient"),
    [(PV_TRD, "trd-eligible"), (SIGN_TRD_84, "trd-eligible"), (SELECT_ANEURYSM, "aneurysm")],
)
def test_all_prefetch_keys_omitted_gives_the_same_cards_from_the_fhir_server(
    fhir_server: FhirServer, tmp_path: Path, name: str, patient: str
) -> None:
    load_example_patient(fhir_server, patient)
    fhir_server.control(requireToken="demo-token")
    client = demo_client(tmp_path, fhir_allow_http=True)
    prefetched = gist(cards_of(send(client, name)))
    fetched = gist(cards_of(send(client, name, fallback(example(name), fhir_server.fhir_base))))
    assert fetched == prefetched
    searched = {entry["url"].split("?")[0].rsplit("/", 1)[-1] for entry in fhir_server.log()}
    assert {"Condition", "MedicationStatement", "Observation"} <= searched  # really fetched


@pytest.mark.slow
def test_stopped_fhir_server_is_412_within_the_time_budget(tmp_path: Path) -> None:
    budget_s = 2.0
    client = demo_client(tmp_path, fhir_allow_http=True, fhir_timeout_s=budget_s)
    with run_fhir_server() as server:
        load_example_patient(server, "trd-eligible")
        body = fallback(example(PV_TRD), server.fhir_base)
        assert send(client, PV_TRD, body).status_code == 200
    # The process is gone; its port now refuses connections.
    started = time.monotonic()
    response = send(client, PV_TRD, body)
    elapsed = time.monotonic() - started
    assert response.status_code == 412, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert elapsed < budget_s + 1.0


@pytest.mark.slow
def test_fhir_server_that_never_answers_is_412_within_the_time_budget(tmp_path: Path) -> None:
    budget_s = 1.0
    client = demo_client(tmp_path, fhir_allow_http=True, fhir_timeout_s=budget_s)
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        base = f"http://127.0.0.1:{silent.getsockname()[1]}/fhir"
        started = time.monotonic()
        response = send(client, PV_TRD, fallback(example(PV_TRD), base))
        elapsed = time.monotonic() - started
    assert response.status_code == 412
    assert budget_s * 0.9 < elapsed < budget_s + 1.0


# --- feedback, seen by `cds audit` ----------------------------------------------------------------


def test_feedback_is_stored_and_shown_by_the_cds_audit_command(tmp_path: Path) -> None:
    client = demo_client(tmp_path)
    overridden, accepted = (
        next(
            c for c in cards_of(send(client, SIGN_TRD_84)) if c["source"]["topic"]["code"] == "dose-schedule"
        )
        for _ in range(2)
    )
    feedback = {
        "feedback": [
            {
                "card": overridden["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2025-06-02T10:06:00Z",
                "overrideReason": {"reason": overridden["overrideReasons"][0], "userComment": "titrating"},
            },
            {
                "card": accepted["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": accepted["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2025-06-02T10:07:00Z",
            },
        ]
    }
    assert client.post(f"/cds-services/{ORDER_SIGN_SERVICE}/feedback", json=feedback).status_code == 200

    result = subprocess.run(
        [sys.executable, "-m", "cds", "audit", "--database-url", f"sqlite:///{tmp_path / 'demo.sqlite3'}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "250", "NO_COLOR": "1"},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Patient/trd-eligible" in out and ORDER_SIGN_SERVICE in out and "order-sign" in out
    assert "[overridden]" in out and "[accepted]" in out
    rates = out[out.index("Override rate per rule") :]
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in rates.splitlines() if "│" in line]
    dose_rows = [row for row in rows if row and row[0] and row[0] in overridden["source"]["label"]]
    # Two dose cards issued, two feedback entries, one override.
    assert [row[1:] for row in dose_rows] == [["2", "2", "1", "50%"]], rates


# --- the specification's own example requests -----------------------------------------------------


def spec_examples() -> dict[str, dict[str, Any]]:
    """The complete request examples of CDS Hooks 2.0.1 (spec text, and the FHIR-tools IG copy)."""
    if not SPEC.is_dir():
        pytest.skip(f"shared spec folder not beside the repository ({SPEC})")
    text = (SPEC / "spec-text" / "cds-hooks-2.0.1-index.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```json")[1:]]
    requests = [json.loads(b) for b in blocks if '"hookInstance"' in b]
    assert len(requests) == 2, "the 2.0.1 text has two complete request examples"
    ig = json.loads((SPEC / "fhir-tools-ig" / "examples" / "binary-CDSHooksRequestPV.json").read_text())
    return {"calling-a-service": requests[0], "extension": requests[1], "fhir-tools-ig": ig}


def test_spec_patient_view_example_is_accepted_and_fetches_its_data_from_fhir_server(tmp_path: Path) -> None:
    """As sent, the example's fhirServer is plain http on the Internet: refused (the service would send
    the access token unencrypted), and its only prefetch key ('patientToGreet') is not one of ours, so
    the required data cannot be had: 412, not 400. No request leaves this machine."""
    examples = spec_examples()
    assert examples["fhir-tools-ig"] == examples["calling-a-service"]
    response = demo_client(tmp_path).post(
        f"/cds-services/{PATIENT_VIEW_SERVICE}", json=examples["calling-a-service"]
    )
    assert response.status_code == 412
    assert "https" in response.text  # says why: plain-http fhirServer refused


@pytest.mark.slow
def test_spec_patient_view_example_gets_an_answer_from_a_real_fhir_server(
    fhir_server: FhirServer, tmp_path: Path
) -> None:
    body = spec_examples()["calling-a-service"]
    patient = body["prefetch"]["patientToGreet"]
    fhir_server.load({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]})
    body["fhirServer"] = fhir_server.fhir_base  # the only change: a server this test can reach
    response = demo_client(tmp_path, fhir_allow_http=True).post(
        f"/cds-services/{PATIENT_VIEW_SERVICE}", json=body
    )
    # A patient with no depression on record: nothing to say (no card on every chart).
    assert cards_of(response) == []


def test_spec_extension_example_is_refused_because_it_has_no_patient(tmp_path: Path) -> None:
    """The example only shows where extensions go; patient-view requires context.patientId."""
    response = demo_client(tmp_path).post(
        f"/cds-services/{PATIENT_VIEW_SERVICE}", json=spec_examples()["extension"]
    )
    assert response.status_code == 400
    assert "context.patientId: Field required" in response.text


def test_make_run_takes_a_port_and_prints_curls_for_services_that_exist() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(
        ["make", "-n", "run", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "--port 8123" in out
    ids = set(re.findall(r"127\.0\.0\.1:8123/cds-services/([\w-]+)", out))
    assert ids == {PATIENT_VIEW_SERVICE, ORDER_SIGN_SERVICE, ORDER_SELECT_SERVICE}
    assert ":8000" not in out
