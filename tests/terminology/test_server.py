"""The optional terminology server, against a fake one (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from cds.pipeline import evaluate
from cds.synthetic import SNOMED, PatientBuilder
from cds.terminology import load_valuesets
from cds.terminology import server as srv
from cds.terminology.server import ServerPlacer, TerminologyClient

BASE = "http://tx.example.org/fhir"
ANEURYSM_ROOT = "432119003"  # Aneurysm (disorder): an is-a root of aneurysmal-vascular-disease
POPLITEAL = "999000001"  # stands for a descendant no committed expansion lists


def _params(**values: str) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": k, "valueCode" if k == "outcome" else "valueString": v} for k, v in values.items()
        ],
    }


class FakeServer:
    def __init__(self, subsumed: dict[str, str] | None = None, status: int = 200, fail: bool = False) -> None:
        self.subsumed = subsumed or {POPLITEAL: ANEURYSM_ROOT}
        self.status = status
        self.fail = fail
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail:
            raise httpx.ConnectTimeout("no route", request=request)
        if self.status != 200:
            return httpx.Response(self.status, json={"resourceType": "OperationOutcome"})
        q = request.url.params
        if request.url.path.endswith("/CodeSystem/$subsumes"):
            outcome = "subsumes" if self.subsumed.get(q["codeB"]) == q["codeA"] else "not-subsumed"
            return httpx.Response(200, json=_params(outcome=outcome))
        if request.url.path.endswith("/CodeSystem/$lookup"):
            return httpx.Response(200, json=_params(display="Popliteal artery aneurysm"))
        if request.url.path.endswith("/ValueSet/$expand"):
            body = {
                "resourceType": "ValueSet",
                "expansion": {"contains": [{"system": SNOMED, "code": POPLITEAL}]},
            }
            return httpx.Response(200, content=json.dumps(body))
        return httpx.Response(404)


def _client(fake: FakeServer, budget_s: float = 2.0) -> TerminologyClient:
    return TerminologyClient(BASE, budget_s=budget_s, transport=httpx.MockTransport(fake))


def test_subsumes_lookup_expand_and_cache() -> None:
    fake = FakeServer()
    with _client(fake) as c:
        assert c.subsumes(SNOMED, ANEURYSM_ROOT, POPLITEAL) is True
        assert c.subsumes(SNOMED, ANEURYSM_ROOT, POPLITEAL) is True
        assert c.subsumes(SNOMED, ANEURYSM_ROOT, "22298006") is False
        assert c.lookup(SNOMED, POPLITEAL) is not None
        assert c.expand("http://example.org/vs") == [(SNOMED, POPLITEAL, "")]
    assert len(fake.requests) == 4, "the repeated $subsumes must come from the cache"


@pytest.mark.parametrize(
    "fake", [FakeServer(status=500), FakeServer(fail=True)], ids=["error", "unreachable"]
)
def test_a_failing_server_answers_unknown(fake: FakeServer) -> None:
    with _client(fake) as c:
        assert c.subsumes(SNOMED, ANEURYSM_ROOT, POPLITEAL) is None
        assert c.lookup(SNOMED, POPLITEAL) is None


def test_no_call_once_the_time_budget_is_spent() -> None:
    fake = FakeServer()
    with _client(fake, budget_s=0.0) as c:
        assert c.subsumes(SNOMED, ANEURYSM_ROOT, POPLITEAL) is None
    assert fake.requests == []


def test_the_server_places_an_unlisted_descendant_and_never_removes_a_match() -> None:
    fake = FakeServer()
    vs = load_valuesets()
    with _client(fake) as c:
        placed = vs.with_placer(ServerPlacer(c, vs.is_a_roots()))
        hits = placed.match_concept_in(
            ["aneurysmal-vascular-disease"], {"coding": [{"system": SNOMED, "code": POPLITEAL}]}
        )
        assert hits["aneurysmal-vascular-disease"][0].by == "server"
        listed = {"coding": [{"system": SNOMED, "code": "14336007"}]}
        before = len(fake.requests)
        assert (
            placed.match_concept_in(["aneurysmal-vascular-disease"], listed)["aneurysmal-vascular-disease"][
                0
            ].by
            == "expansion"
        )
        assert len(fake.requests) == before, "a listed code needs no server call"
    assert vs.placer is None, "the shared value sets were changed"


def _popliteal_patient() -> list[dict[str, Any]]:
    p = PatientBuilder(birth_date="1980-01-01", gender="male", pid="tx")
    p.condition("F33.1", onset="2024-09-01")
    p.condition(POPLITEAL, system=SNOMED, display="Popliteal artery aneurysm", onset="2019-01-01")
    p.medication("sertraline", start="2024-09-15", end="2024-12-15", mg=150, stop_reason="lack of efficacy")
    p.medication("venlafaxine", start="2025-01-02", mg=150)
    p.blood_pressure("2025-05-28", 128, 82)
    p.weight("2025-05-28", 80)
    p.phq9("2025-05-28", 19)  # non-response on the ongoing venlafaxine (issue 13 item 7)
    return [e["resource"] for e in p.bundle()["entry"]]


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    fake = FakeServer()
    monkeypatch.setenv(srv.ENV_URL, BASE)
    client = _client(fake)
    monkeypatch.setattr(srv, "_CLIENT", client)
    yield fake
    client.close()


def _verdict(resources: list[dict[str, Any]]) -> str:
    a = evaluate(resources, as_of=date(2025, 6, 2)).assessment
    return next(p.verdict for p in a.products if p.product == "esketamine")


def test_with_a_server_an_unlisted_aneurysm_descendant_contraindicates(configured: FakeServer) -> None:
    assert _verdict(_popliteal_patient()) == "contraindicated"
    assert configured.requests, "the server was not asked"


def test_without_a_server_the_same_entry_withholds_clearance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(srv.ENV_URL, raising=False)
    assert _verdict(_popliteal_patient()) == "insufficient-data"


def test_an_unreachable_server_falls_back_to_the_committed_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(srv.ENV_URL, BASE)
    monkeypatch.setattr(srv, "_CLIENT", _client(FakeServer(fail=True)))
    assert _verdict(_popliteal_patient()) == "insufficient-data"


def test_the_patient_is_otherwise_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    # So that the verdicts above come from the popliteal entry alone.
    monkeypatch.delenv(srv.ENV_URL, raising=False)
    resources = [
        r for r in _popliteal_patient() if r.get("code", {}).get("coding", [{}])[0].get("code") != POPLITEAL
    ]
    assert _verdict(resources) == "appropriate"


def test_each_assessment_gets_its_own_time_budget() -> None:
    # A spent budget stops one assessment's calls; the next assessment may ask again.
    fake = FakeServer()
    vs = load_valuesets()
    coding = {"coding": [{"system": SNOMED, "code": POPLITEAL}]}
    with _client(fake) as c:
        spent = vs.with_placer(ServerPlacer(c, vs.is_a_roots(), srv.Budget(0.0)))
        assert spent.match_concept_in(["aneurysmal-vascular-disease"], coding) == {}
        assert fake.requests == []
        fresh = vs.with_placer(ServerPlacer(c, vs.is_a_roots()))
        assert fresh.match_concept_in(["aneurysmal-vascular-disease"], coding)
