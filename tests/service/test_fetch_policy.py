"""What the service may fetch, and what it accepts as prefetch (issue 11, items 7, 9 and 10):
malformed prefetch shapes are 400 (never 500, never read as "nothing"); the fhirServer must be on the
calling issuer's list; `next` links stay on that server by origin and path segments; responses are
capped before and after decompression; report pages' framing is configurable."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import pytest

from cds.service.catalog import PATIENT_VIEW_SERVICE
from cds.service.prefetch import same_server

from .builders import FHIR_BASE, PATIENT_ID, full_prefetch, patient_view_request, searchset
from .fakes import FakeEngine, Harness, service_settings
from .test_hook_calls import cards_of
from .test_prefetch import FakeFhir, harness_with

CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": f"Patient/{PATIENT_ID}"}}


# --- item 7: malformed prefetch ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "field"),
    [
        (
            {"resourceType": "Bundle", "type": "searchset", "entry": {"resource": CONDITION}},
            "conditions.entry",
        ),
        ({"resourceType": "Bundle", "entry": ["Condition/c1"]}, "conditions.entry[0]"),
        ({"resourceType": "Bundle", "entry": [{"resource": "Condition/c1"}]}, "conditions.entry[0].resource"),
        (
            {"resourceType": "Bundle", "entry": [{"resource": CONDITION, "search": "match"}]},
            "entry[0].search",
        ),
        (
            {
                "resourceType": "Bundle",
                "entry": [{"resource": {"resourceType": "OperationOutcome", "issue": "x"}}],
            },
            "entry[0].resource.issue",
        ),
        (
            {
                "resourceType": "Bundle",
                "entry": [{"resource": {"resourceType": "OperationOutcome", "issue": ["x"]}}],
            },
            "entry[0].resource.issue",
        ),
    ],
    ids=["entry-object", "entry-string", "resource-string", "search-string", "issue-string", "issue-items"],
)
def test_malformed_prefetch_is_400_naming_the_field(conditions: dict[str, Any], field: str) -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = conditions
    harness = Harness()
    response = harness.call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch))
    assert response.status_code == 400, response.text
    assert field in response.json()["issue"][0]["diagnostics"]
    assert harness.engine.calls == []


# --- item 9: SSRF -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "server",
    [
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://127.0.0.1:8000",  # the service itself
        "https://localhost:5432",  # another loopback port
        "https://ehr.test/fhir-admin",  # a string-prefix of the listed base
        "https://ehr.test",  # a parent of it
        "https://ehr.test.evil.example/fhir",
    ],
)
def test_a_fhir_server_not_on_the_issuers_list_is_refused_before_any_connection(server: str) -> None:
    fhir = FakeFhir()
    prefetch = full_prefetch()
    del prefetch["conditions"]
    response = harness_with(fhir).call(
        PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=server)
    )
    assert fhir.requests == []
    assert response.status_code == 412
    [issue] = response.json()["issue"]
    assert "not on this client's list of FHIR servers" in issue["diagnostics"]
    assert server.split("//")[1].split("/")[0] not in response.text


@pytest.mark.parametrize("spelling", ["https://EHR.test:443/fhir/", "https://ehr.test/fhir"])
def test_the_listed_server_is_fetched_in_any_spelling(spelling: str) -> None:
    fhir = FakeFhir({"Condition": searchset(CONDITION)})
    prefetch = full_prefetch()
    del prefetch["conditions"]
    cards_of(
        harness_with(fhir).call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=spelling))
    )
    assert len(fhir.requests) == 1


def test_an_issuer_with_no_fhir_servers_gets_no_fetch() -> None:
    fhir = FakeFhir()
    harness = Harness(transport=fhir.transport(), fhir_servers=frozenset())
    prefetch = full_prefetch()
    del prefetch["conditions"]
    assert (
        harness.call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR_BASE)).status_code
        == 412
    )
    assert fhir.requests == []


def test_auth_off_with_cds_fhir_servers_limits_the_servers_too() -> None:
    fhir = FakeFhir()
    settings = service_settings(auth=False, fhir_servers=frozenset({"https://other.test/fhir"}))
    harness = Harness(settings=settings, transport=fhir.transport())
    prefetch = full_prefetch()
    del prefetch["conditions"]
    assert (
        harness.call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR_BASE)).status_code
        == 412
    )
    assert fhir.requests == []


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://ehr.test/fhir/Condition?page=2", True),
        ("https://ehr.test:443/fhir/Condition?page=2", True),
        ("https://EHR.TEST/fhir/Condition", True),
        ("https://ehr.test/fhir", True),
        ("https://ehr.test/fhir-admin/Condition", False),  # a string-prefix, not a path segment
        ("https://ehr.test/fhirx", False),
        ("https://ehr.test/fhir/../admin", False),
        ("https://ehr.test/fhir/%2e%2e/admin", False),
        ("https://ehr.test/other/fhir", False),
        ("http://ehr.test/fhir/Condition", False),
        ("https://ehr.test:8443/fhir/Condition", False),
        ("https://user@ehr.test/fhir/Condition", False),
        ("https://ehr.test.evil.example/fhir/Condition", False),
        ("https://ehr.test:bad/fhir", False),
    ],
)
def test_next_links_are_checked_by_origin_and_path_segments(url: str, same: bool) -> None:
    assert same_server(url, FHIR_BASE) is same


def test_a_next_link_under_a_string_prefix_of_the_server_path_does_not_get_the_token() -> None:
    def conditions(request: httpx.Request) -> dict[str, Any]:
        bundle = searchset(CONDITION)
        bundle["link"] = [{"relation": "next", "url": "https://ehr.test/fhir-admin/steal"}]
        return bundle

    fhir = FakeFhir({"Condition": conditions})
    prefetch = full_prefetch()
    del prefetch["conditions"]
    body = patient_view_request(
        prefetch, fhirServer=FHIR_BASE, fhirAuthorization={"access_token": "secret", "token_type": "Bearer"}
    )
    assert harness_with(fhir).call(PATIENT_VIEW_SERVICE, body).status_code == 412
    assert [r.url.path for r in fhir.requests] == ["/fhir/Condition"]


def _one_key_missing(answer: httpx.Response, **settings: Any) -> httpx.Response:
    fhir = FakeFhir({"Condition": answer})
    prefetch = full_prefetch()
    del prefetch["conditions"]
    harness = Harness(settings=service_settings(**settings), engine=FakeEngine(), transport=fhir.transport())
    return harness.call(PATIENT_VIEW_SERVICE, patient_view_request(prefetch, fhirServer=FHIR_BASE))


def test_a_response_over_the_size_cap_is_not_read() -> None:
    big = searchset(*[{**CONDITION, "id": f"c{i}", "note": [{"text": "x" * 1000}]} for i in range(50)])
    assert _one_key_missing(httpx.Response(200, json=big), fhir_max_response_bytes=10_000).status_code == 412
    assert (
        _one_key_missing(httpx.Response(200, json=big), fhir_max_response_bytes=1_000_000).status_code == 200
    )


def test_a_decompression_bomb_is_cut_at_the_decompressed_size_cap() -> None:
    bundle = searchset(*[{**CONDITION, "id": f"c{i}", "note": [{"text": " " * 10_000}]} for i in range(100)])
    import orjson

    raw = orjson.dumps(bundle)
    packed = gzip.compress(raw)
    assert len(packed) < 20_000 < len(raw)  # small on the wire, a megabyte decompressed
    answer = httpx.Response(200, content=packed, headers={"Content-Encoding": "gzip"})
    caps = {"fhir_max_response_bytes": 100_000}
    assert _one_key_missing(answer, fhir_max_decoded_bytes=200_000, **caps).status_code == 412
    answer = httpx.Response(200, content=packed, headers={"Content-Encoding": "gzip"})
    assert _one_key_missing(answer, fhir_max_decoded_bytes=5_000_000, **caps).status_code == 200


# --- item 10: report framing -----------------------------------------------------------------------


def test_report_frame_ancestors_are_configurable_and_none_by_default() -> None:
    default = Harness().client.get("/reports/" + "a" * 43)
    assert default.headers["content-security-policy"].endswith("; frame-ancestors 'none'")
    ehr = Harness(settings=service_settings(report_frame_ancestors="https://ehr.example 'self'"))
    page = ehr.client.get("/reports/" + "a" * 43)
    assert page.headers["content-security-policy"].endswith("; frame-ancestors https://ehr.example 'self'")


def test_a_frame_ancestors_value_cannot_add_a_directive() -> None:
    from cds.service.settings import Settings, SettingsError

    with pytest.raises(SettingsError):
        Settings.from_env({"CDS_AUTH": "off", "CDS_REPORT_FRAME_ANCESTORS": "'none'; script-src *"})
