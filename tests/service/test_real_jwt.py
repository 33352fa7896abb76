"""The service wired to the real JWT verifier (cds.security.jwt) and audit store: sign, call, replay."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cds.service.app import create_app
from cds.service.catalog import PATIENT_VIEW_SERVICE

from .builders import BASE_URL, patient_view_request
from .fakes import AppClient, FakeEngine, service_settings

ISS = "https://ehr.test"
KID = "test-key-1"


@pytest.fixture
def signing_key(tmp_path: Path) -> tuple[Any, Path]:
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": KID, "alg": "ES384", "use": "sig"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text(f"- iss: {ISS}\n  jwks_file: jwks.json\n")
    return key, issuers


def token(key: Any, aud: str, jti: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": aud, "iat": now, "exp": now + 300, "jti": jti or str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})


def test_signed_call_passes_replay_and_wrong_audience_fail(
    signing_key: tuple[Any, Path], tmp_path: Path
) -> None:
    pytest.importorskip("cds.security.jwt")
    key, issuers = signing_key
    settings = service_settings(trusted_issuers=issuers, database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}")
    client = AppClient(create_app(settings, engine=FakeEngine()))
    url = f"/cds-services/{PATIENT_VIEW_SERVICE}"
    good = token(key, f"{BASE_URL}{url}")
    first = client.post(url, json=patient_view_request(), headers={"Authorization": f"Bearer {good}"})
    assert first.status_code == 200, first.text
    replay = client.post(url, json=patient_view_request(), headers={"Authorization": f"Bearer {good}"})
    assert replay.status_code == 401 and replay.content == b""
    other = token(key, f"{BASE_URL}/cds-services/another-service")
    assert (
        client.post(
            url, json=patient_view_request(), headers={"Authorization": f"Bearer {other}"}
        ).status_code
        == 401
    )
