"""Test keys, claims and signing for the JWT tests (imported by conftest and the tests)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISS = "https://ehr.example.org/cds-client"
AUD = "https://cds.example.org/cds-services/ketamine-order-sign"
NOW = datetime(2025, 6, 2, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: Any  # cryptography private key

    def public_jwk(self) -> dict[str, Any]:
        algo = ECAlgorithm if self.alg == "ES384" else RSAAlgorithm
        jwk: dict[str, Any] = json.loads(algo.to_jwk(self.private.public_key()))
        jwk.update(kid=self.kid, use="sig", alg=self.alg)
        return jwk


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(NOW.timestamp())
    base: dict[str, Any] = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: SigningKey, payload: dict[str, Any] | None = None, **header: Any) -> str:
    hdr: dict[str, Any] = {"kid": key.kid, "typ": "JWT"}
    hdr.update(header)
    return jwt.encode(
        payload if payload is not None else claims(), key.private, algorithm=key.alg, headers=hdr
    )
