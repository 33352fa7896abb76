"""The service wired to the real JWT verifier (cds.security.jwt) and audit store: a valid ES384 or
RS384 token gets 200; every kind of bad token gets a bare 401 and no advice."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds.service.app import create_app
from cds.service.catalog import PATIENT_VIEW_SERVICE

from .builders import BASE_URL, patient_view_request
from .fakes import AppClient, FakeEngine, service_settings

ISS = "https://ehr.test"
URL = f"/cds-services/{PATIENT_VIEW_SERVICE}"
AUD = f"{BASE_URL}{URL}"


@dataclass
class Signer:
    key: Any
    alg: str
    kid: str

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISS,
            "aud": AUD,
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        }
        headers = {"kid": self.kid, "typ": "JWT"}
        for name, value in overrides.items():
            if name.startswith("h_"):
                headers[name[2:]] = value
            elif value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return jwt.encode(claims, self.key, algorithm=self.alg, headers=headers)


def _jwk(signer: Signer) -> dict[str, Any]:
    algorithm = jwt.algorithms.ECAlgorithm if signer.alg == "ES384" else jwt.algorithms.RSAAlgorithm
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(signer.key.public_key()))
    jwk.update({"kid": signer.kid, "alg": signer.alg, "use": "sig"})
    return jwk


@pytest.fixture
def signers() -> dict[str, Signer]:
    return {
        "ES384": Signer(ec.generate_private_key(ec.SECP384R1()), "ES384", "ec-key"),
        "RS384": Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS384", "rsa-key"),
    }


@pytest.fixture
def client(signers: dict[str, Signer], tmp_path: Path) -> AppClient:
    pytest.importorskip("cds.security.jwt")
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [_jwk(s) for s in signers.values()]}))
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text(f"- iss: {ISS}\n  jwks_file: jwks.json\n")
    settings = service_settings(trusted_issuers=issuers, database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}")
    return AppClient(create_app(settings, engine=FakeEngine()))


def call(client: AppClient, token: str | None, authorization: str | None = None) -> Any:
    headers = {"Authorization": authorization or f"Bearer {token}"} if (token or authorization) else {}
    return client.post(URL, json=patient_view_request(), headers=headers)


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_valid_token_is_200_and_its_replay_is_401(
    client: AppClient, signers: dict[str, Signer], alg: str
) -> None:
    good = signers[alg].token()
    first = call(client, good)
    assert first.status_code == 200, first.text
    assert first.json()["cards"]
    replay = call(client, good)
    assert replay.status_code == 401 and replay.content == b""


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/cds-services/no-such-service", orjson.dumps(patient_view_request()), id="404"),
        pytest.param(URL, b"{not json", id="400 body"),
        pytest.param(URL, orjson.dumps({**patient_view_request(), "context": {}}), id="400 context"),
    ],
)
def test_a_token_spent_on_a_refused_call_cannot_be_replayed(
    client: AppClient, signers: dict[str, Signer], path: str, body: bytes
) -> None:
    token = signers["ES384"].token(aud=f"{BASE_URL}{path}")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert client.post(path, content=body, headers=headers).status_code in (400, 404)
    again = client.post(path, content=body, headers=headers)
    assert again.status_code == 401 and again.content == b""


def test_a_call_failing_after_its_assessment_is_recorded_and_its_token_spent(
    client: AppClient, signers: dict[str, Signer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("response could not be built")

    monkeypatch.setattr("cds.service.routes.json_response", broken)
    token = signers["ES384"].token()
    failed = call(client, token)
    assert failed.status_code == 500 and "no advice" in failed.text
    with sqlite3.connect(tmp_path / "a.sqlite3") as db:
        assert db.execute("SELECT status_code FROM hook_call").fetchall() == [(500,)]
    monkeypatch.undo()
    again = call(client, token)
    assert again.status_code == 401 and again.content == b""


def test_a_token_whose_call_the_audit_refused_cannot_be_replayed(
    client: AppClient, signers: dict[str, Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    def same_uuids() -> Any:
        numbers = iter(range(1, 1000))
        return lambda: f"00000000-0000-4000-8000-{next(numbers):012d}"

    monkeypatch.setattr("cds.service.cards._uuid", same_uuids())
    assert call(client, signers["ES384"].token()).status_code == 200
    monkeypatch.setattr("cds.service.cards._uuid", same_uuids())  # the same card uuids: write refused
    token = signers["ES384"].token()
    assert call(client, token).status_code == 503
    again = call(client, token)  # new card uuids now: only the token can refuse it
    assert again.status_code == 401 and again.content == b""


def test_a_refused_call_is_503_when_its_token_cannot_be_recorded(
    client: AppClient, signers: dict[str, Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cds.audit.db import AuditError

    def down(*_: Any, **__: Any) -> bool:
        raise AuditError("replay cache unavailable: OperationalError")

    monkeypatch.setattr("cds.audit.replay.DatabaseReplayCache.seen", down)
    path = "/cds-services/no-such-service"
    token = signers["ES384"].token(aud=f"{BASE_URL}{path}")
    response = client.post(path, json=patient_view_request(), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503


def test_the_token_use_is_in_the_audit_database_after_the_answer(
    client: AppClient, signers: dict[str, Signer], tmp_path: Path
) -> None:
    import sqlite3

    token = signers["ES384"].token()
    assert call(client, token).status_code == 200
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    with sqlite3.connect(tmp_path / "a.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM seen_token WHERE jti = ?", (jti,)).fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM hook_call").fetchone() == (1,)


def _unsigned(signer: Signer) -> str:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT", "kid": signer.kid}).encode())
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode())
    return f"{header.decode().rstrip('=')}.{body.decode().rstrip('=')}."


BAD_TOKENS: dict[str, Any] = {
    "wrong audience (another service)": lambda s: s.token(aud=f"{BASE_URL}/cds-services/another"),
    "audience without the path": lambda s: s.token(aud=BASE_URL),
    "expired": lambda s: s.token(iat=int(time.time()) - 900, exp=int(time.time()) - 600),
    "issued in the future": lambda s: s.token(iat=int(time.time()) + 600, exp=int(time.time()) + 900),
    "untrusted issuer": lambda s: s.token(iss="https://evil.test"),
    "unknown key id": lambda s: s.token(h_kid="nobody"),
    "no jti": lambda s: s.token(jti=None),
    "signed by another key": lambda s: Signer(
        ec.generate_private_key(ec.SECP384R1()), "ES384", s.kid
    ).token(),
    "HS256 with a guessable secret": lambda s: jwt.encode(
        {"iss": ISS, "aud": AUD, "iat": int(time.time()), "exp": int(time.time()) + 60, "jti": "x"},
        "secret-key-of-at-least-thirty-two-bytes!",
        algorithm="HS256",
        headers={"kid": s.kid},
    ),
    "alg none": _unsigned,
    "garbage": lambda s: "not.a.jwt",
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_bad_tokens_are_a_bare_401(client: AppClient, signers: dict[str, Signer], case: str) -> None:
    response = call(client, BAD_TOKENS[case](signers["ES384"]))
    assert response.status_code == 401 and response.content == b"", case


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer  "])
def test_missing_or_malformed_authorization_header_is_401(
    client: AppClient, authorization: str | None
) -> None:
    response = call(client, None, authorization)
    assert response.status_code == 401 and response.content == b""


def _service_with_engine(signers: dict[str, Signer], tmp_path: Path) -> tuple[AppClient, FakeEngine, Path]:
    """The service with the real verifier and audit store, and the fake engine it assesses with."""
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [_jwk(s) for s in signers.values()]}))
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text(f"- iss: {ISS}\n  jwks_file: jwks.json\n")
    db = tmp_path / "a.sqlite3"
    engine = FakeEngine()
    client = AppClient(
        create_app(service_settings(trusted_issuers=issuers, database_url=f"sqlite:///{db}"), engine=engine)
    )
    return client, engine, db


def test_a_replayed_token_is_refused_before_its_assessment(
    signers: dict[str, Signer], tmp_path: Path
) -> None:
    """The replay check opens the call's turn in the CPU queue: a replay costs no assessment."""
    import sqlite3

    client, engine, db = _service_with_engine(signers, tmp_path)
    token = signers["ES384"].token()
    assert call(client, token).status_code == 200
    assert len(engine.calls) == 1
    replay = call(client, token)
    assert replay.status_code == 401 and replay.content == b""
    assert len(engine.calls) == 1
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM hook_call").fetchone() == (1,)


def test_an_issuers_keys_are_fetched_in_a_worker_thread_and_used_on_the_event_loop_once_at_hand(
    signers: dict[str, Signer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JWKS fetch (network) never runs on the event loop; once the keys are cached, a token is
    verified there without a hand-off to a worker thread."""
    import asyncio

    import httpx

    import cds.service.guard as guard

    fetched_on_loop: list[bool] = []

    def jwks(request: httpx.Request) -> httpx.Response:
        try:
            asyncio.get_running_loop()
            fetched_on_loop.append(True)
        except RuntimeError:
            fetched_on_loop.append(False)
        return httpx.Response(200, json={"keys": [_jwk(s) for s in signers.values()]})

    real_client = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **_: real_client(transport=httpx.MockTransport(jwks)))
    hand_offs: list[str] = []
    real_run = guard.run_in_threadpool

    async def counted(func: Any, *args: Any) -> Any:
        hand_offs.append(getattr(func, "__name__", "?"))
        return await real_run(func, *args)

    monkeypatch.setattr(guard, "run_in_threadpool", counted)
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text(f"- iss: {ISS}\n  jwks_url: https://ehr.test/jwks.json\n")
    settings = service_settings(trusted_issuers=issuers, database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}")
    client = AppClient(create_app(settings, engine=FakeEngine()))
    assert call(client, signers["ES384"].token()).status_code == 200
    assert fetched_on_loop == [False] and hand_offs == ["verify_signed"]
    assert call(client, signers["RS384"].token()).status_code == 200
    assert fetched_on_loop == [False] and hand_offs == ["verify_signed"]  # at hand: no hand-off
    assert call(client, signers["ES384"].token(h_kid="unknown")).status_code == 401


def test_audit_database_down_is_503_not_401(signers: dict[str, Signer], tmp_path: Path) -> None:
    """The replay-cache write is the first database write of a call: when it fails the client is not
    at fault (401 would send it looking for a key problem); the answer is 503 and no advice."""
    import sqlite3

    client, engine, db = _service_with_engine(signers, tmp_path)
    with sqlite3.connect(db) as connection:  # the store breaks under the running service
        connection.execute("DROP TABLE seen_token")
    response = call(client, signers["ES384"].token())
    assert response.status_code == 503
    assert engine.calls == []


def test_the_issuers_fhir_servers_decide_where_the_service_may_fetch(
    signers: dict[str, Signer], tmp_path: Path
) -> None:
    import httpx

    from .builders import PATIENT_ID, full_prefetch

    seen: list[str] = []

    def fhir(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})

    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [_jwk(s) for s in signers.values()]}))
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text(f"- iss: {ISS}\n  jwks_file: jwks.json\n  fhir_servers: [https://ehr.test/fhir]\n")
    settings = service_settings(trusted_issuers=issuers, database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}")
    client = AppClient(create_app(settings, engine=FakeEngine(), fhir_transport=httpx.MockTransport(fhir)))
    prefetch = full_prefetch()
    del prefetch["conditions"]
    for server, status in (("https://ehr.test/fhir", 200), ("https://169.254.169.254/fhir", 412)):
        body = patient_view_request(prefetch, fhirServer=server)
        headers = {"Authorization": f"Bearer {signers['ES384'].token()}"}
        assert client.post(URL, json=body, headers=headers).status_code == status, server
    assert seen == [f"https://ehr.test/fhir/Condition?patient=Patient/{PATIENT_ID}"]
