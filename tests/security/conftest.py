"""Keys generated once per test session, JWKS files written per test, verifiers with a frozen clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt_test_helpers import ISS, NOW, SigningKey

from cds.security import JwtVerifier, MemoryReplayCache, TrustedIssuer


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey("ec-1", "ES384", ec.generate_private_key(ec.SECP384R1()))


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey("rsa-1", "RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def jwks_file(tmp_path: Path, ec_key: SigningKey, rsa_key: SigningKey) -> Path:
    path = tmp_path / "client-jwks.json"
    path.write_text(json.dumps({"keys": [ec_key.public_jwk(), rsa_key.public_jwk()]}))
    return path


@pytest.fixture
def make_verifier(jwks_file: Path) -> Callable[..., JwtVerifier]:
    def make(**kwargs: Any) -> JwtVerifier:
        kwargs.setdefault("clock", lambda: NOW)
        replay = kwargs.pop("replay", None) or MemoryReplayCache(clock=kwargs["clock"])
        return JwtVerifier([TrustedIssuer(iss=ISS, jwks_file=jwks_file)], replay, **kwargs)

    return make


@pytest.fixture
def verifier(make_verifier: Callable[..., JwtVerifier]) -> JwtVerifier:
    return make_verifier()
