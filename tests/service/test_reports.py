"""Decision reports: every card links to the report of its decision, served at an unguessable URL
until it expires, never listed, and never stored for a call that failed."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from cds.errors import InputError
from cds.report.html import CSP
from cds.service import reports as reports_module
from cds.service.app import create_app
from cds.service.catalog import ORDER_SIGN_SERVICE, PATIENT_VIEW_SERVICE
from cds.service.reports import LINK_LABEL

from .builders import BASE_URL, GOOD_TOKEN, finding, make_assessment, medication_request, order_request
from .builders import patient_view_request as pv_request
from .fakes import AppClient, FakeEngine, FakeVerifier, Harness, service_settings
from .test_hook_calls import cards_of

# Several cards of all three indicators: the link must be on each of them.
ASSESSMENT = make_assessment(
    esketamine="contraindicated",
    ketamine_iv="use-with-caution",
    findings=[
        finding(
            "contraindication.aneurysm",
            "aneurysmal-vascular-disease",
            severity="absolute",
            applies_to=("esketamine",),
            category="contraindication",
        ),
        finding("precaution.hypertension", "hypertension"),
        finding("interaction.benzodiazepine", "benzodiazepine", severity="info", category="interaction"),
    ],
)


def report_link(card: dict[str, Any]) -> str:
    links = [link for link in card.get("links", []) if link["label"] == LINK_LABEL]
    assert len(links) == 1, card.get("links")
    assert links[0]["type"] == "absolute"
    url: str = links[0]["url"]
    return url


def store_app(tmp_path: Path, **settings: Any) -> tuple[AppClient, str]:
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    app = create_app(
        service_settings(database_url=url, **settings), engine=FakeEngine(ASSESSMENT), verifier=FakeVerifier()
    )
    return AppClient(app, headers={"Authorization": GOOD_TOKEN}), url


def report_rows(database_url: str) -> int:
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        count: int = db.execute("SELECT count(*) FROM report").fetchone()[0]
    return count


def test_every_patient_view_card_links_to_one_report_under_the_public_base_url() -> None:
    harness = Harness(engine=FakeEngine(ASSESSMENT))
    cards = cards_of(harness.call(PATIENT_VIEW_SERVICE, pv_request()))  # conformance checked there
    assert {c["indicator"] for c in cards} == {"critical", "warning", "info"}
    urls = {report_link(c) for c in cards}
    assert len(urls) == 1
    [url] = urls
    assert url.startswith(f"{BASE_URL}/reports/")
    report_id = url.rsplit("/", 1)[1]
    assert len(report_id) >= 43  # secrets.token_urlsafe(32)
    [call] = harness.audit.calls
    assert call.report is not None and call.report.report_id == report_id


def test_order_cards_link_to_the_report_too() -> None:
    harness = Harness(engine=FakeEngine(ASSESSMENT))
    cards = cards_of(harness.call(ORDER_SIGN_SERVICE, order_request(medication_request(dose_mg=56))))
    assert cards and all(report_link(c) for c in cards)


def test_no_cards_means_no_report_stored() -> None:
    harness = Harness(engine=FakeEngine(make_assessment(status="not-eligible", trials=0)))
    assert cards_of(harness.call(PATIENT_VIEW_SERVICE, pv_request())) == []
    [call] = harness.audit.calls
    assert call.report is None


def test_report_ids_differ_between_calls() -> None:
    harness = Harness(engine=FakeEngine(ASSESSMENT))
    first = report_link(cards_of(harness.call(PATIENT_VIEW_SERVICE, pv_request()))[0])
    second = report_link(cards_of(harness.call(PATIENT_VIEW_SERVICE, pv_request()))[0])
    assert first != second


def test_report_page_is_served_without_a_jwt_with_the_verdicts_and_safe_headers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = store_app(tmp_path)
    caplog.set_level(logging.INFO)
    url = report_link(cards_of(client.post(f"/cds-services/{PATIENT_VIEW_SERVICE}", json=pv_request()))[0])
    path = url.removeprefix(BASE_URL)
    browser = AppClient(client.app)  # no Authorization header: a browser opened the link
    page = browser.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["content-security-policy"] == f"{CSP}; frame-ancestors 'none'"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "Contraindicated" in page.text
    assert "Use with caution" in page.text
    # The id is the report's credential: it must not reach the logs.
    service_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("cds"))
    assert "report fetch status=200" in service_log
    assert path.rsplit("/", 1)[1] not in service_log


def test_link_uses_the_request_base_url_when_auth_is_off_and_no_public_url_is_set(tmp_path: Path) -> None:
    client, _ = store_app(tmp_path, auth=False, public_base_url=None, trusted_issuers=None)
    url = report_link(cards_of(client.post(f"/cds-services/{PATIENT_VIEW_SERVICE}", json=pv_request()))[0])
    assert url.startswith("http://testserver/reports/")
    assert client.get(url.removeprefix("http://testserver")).status_code == 200


def test_expired_report_is_404(tmp_path: Path) -> None:
    client, _ = store_app(tmp_path, report_ttl_hours=0.2 / 3600)  # 0.2 s
    url = report_link(cards_of(client.post(f"/cds-services/{PATIENT_VIEW_SERVICE}", json=pv_request()))[0])
    time.sleep(0.3)
    response = client.get(url.removeprefix(BASE_URL))
    assert response.status_code == 404
    assert response.headers["cache-control"] == "no-store"
    assert "Use with caution" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/reports/" + "A" * 43,  # well-formed, never issued
        "/reports/short",
        "/reports/" + "%27%3B--" * 6,
        "/reports/",  # no listing
        "/reports",
    ],
)
def test_unknown_report_and_listing_are_404(tmp_path: Path, path: str) -> None:
    client, _ = store_app(tmp_path)
    cards_of(client.post(f"/cds-services/{PATIENT_VIEW_SERVICE}", json=pv_request()))
    response = client.get(path)
    assert response.status_code == 404
    assert "Use with caution" not in response.text


def test_failed_hook_calls_store_no_report(tmp_path: Path) -> None:
    harness = Harness(engine=FakeEngine(ASSESSMENT))
    harness.engine.error = RuntimeError("engine bug")
    assert harness.call(PATIENT_VIEW_SERVICE, pv_request()).status_code == 500
    harness.engine.error = InputError("bad resource")
    assert harness.call(PATIENT_VIEW_SERVICE, pv_request()).status_code == 400
    harness.engine.error = None
    assert harness.call(PATIENT_VIEW_SERVICE, pv_request({})).status_code == 412
    assert [c.status_code for c in harness.audit.calls] == [500, 400, 412]
    assert harness.audit.reports == {}


def test_report_is_written_in_the_hook_call_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call whose audit record the database refuses leaves no report row behind."""
    client, database_url = store_app(tmp_path)
    body = pv_request()
    monkeypatch.setattr("cds.service.cards._uuid", _counter_uuid())
    assert client.post(f"/cds-services/{PATIENT_VIEW_SERVICE}", json=body).status_code == 200
    assert report_rows(database_url) == 1
    monkeypatch.setattr("cds.service.cards._uuid", _counter_uuid())  # the same uuids again: refused
    refused = client.post(f"/cds-services/{PATIENT_VIEW_SERVICE}", json=body)
    assert refused.status_code == 503 and "reports" not in refused.text
    assert report_rows(database_url) == 1


def _counter_uuid() -> Any:
    numbers = iter(range(1, 1000))
    return lambda: f"00000000-0000-4000-8000-{next(numbers):012d}"


def test_a_report_that_cannot_be_stored_still_issues_the_cards_without_a_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any, **__: Any) -> str:
        raise ValueError("patient detail that must not be logged")

    monkeypatch.setattr("cds.contract.timeline.Timeline.model_dump_json", broken)
    harness = Harness(engine=FakeEngine(ASSESSMENT))
    cards = cards_of(harness.call(PATIENT_VIEW_SERVICE, pv_request()))
    assert {c["indicator"] for c in cards} == {"critical", "warning", "info"}
    assert not [link for c in cards for link in c.get("links", []) if "/reports/" in link["url"]]
    assert harness.audit.calls[0].report is None


def test_the_report_is_rendered_when_opened_not_at_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The call stores the assessment; the page is rendered when the link is opened. A page that
    cannot be rendered then is a 500 page that leaks nothing; the cards already issued stand."""
    rendered: list[int] = []
    real = reports_module.render_html

    def counting(*args: Any) -> str:
        rendered.append(1)
        return real(*args)

    monkeypatch.setattr("cds.service.reports.render_html", counting)
    client, _ = store_app(tmp_path)
    url = report_link(cards_of(client.post(f"/cds-services/{PATIENT_VIEW_SERVICE}", json=pv_request()))[0])
    assert rendered == []
    assert client.get(url.removeprefix(BASE_URL)).status_code == 200
    assert rendered == [1]

    def broken(*_: Any) -> str:
        raise ValueError("patient detail that must not be logged")

    monkeypatch.setattr("cds.service.reports.render_html", broken)
    caplog.set_level(logging.ERROR)
    page = client.get(url.removeprefix(BASE_URL))
    assert page.status_code == 500 and page.headers["cache-control"] == "no-store"
    assert "cannot be shown" in page.text and "patient detail" not in page.text
    assert "patient detail" not in caplog.text and "report rendering failed: ValueError" in caplog.text
