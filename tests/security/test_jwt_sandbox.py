"""Real tokens: one signed by the CDS Hooks Sandbox, checked against its pinned public JWKS, and the
worked example from the CDS Hooks 2.0.1 specification. Provenance: data/SOURCES.md.

We do not have the Sandbox's private key, so we cannot mint new Sandbox tokens. What is tested honestly:
the pinned JWKS loads and resolves its kid to an ES384 P-384 public key; a token the Sandbox really
signed verifies end-to-end through JwtVerifier with the clock frozen inside its 5-minute life; and
any change to it, or a token we sign ourselves under the Sandbox's kid, is refused.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt_test_helpers import SigningKey, sign

from cds.security import AuthError, JwtVerifier, MemoryReplayCache, TrustedIssuer
from cds.security.jwks import PinnedJwks

DATA = Path(__file__).parent / "data"
SANDBOX_JWKS = DATA / "sandbox-jwks.json"
SHARED_SANDBOX_JWKS = Path(__file__).resolve().parents[3] / "shared/spec/cds-hooks/sandbox/sandbox-jwks.json"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_AUD = "http://127.0.0.1:8000/cds-services"
SANDBOX_TOKEN = (
    "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6IjQ0ODIzZjNkLTBiMDEtNGE2Yy1hODBlLWI5ZDNlOGE3MjI2ZiIs"
    "ImprdSI6Imh0dHBzOi8vc2FuZGJveC5jZHMtaG9va3Mub3JnLy53ZWxsLWtub3duL2p3a3MuanNvbiJ9"
    ".eyJpc3MiOiJodHRwczovL3NhbmRib3guY2RzLWhvb2tzLm9yZyIsImF1ZCI6Imh0dHA6Ly8xMjcuMC4wLjE6ODAwMC9jZHMt"
    "c2VydmljZXMiLCJleHAiOjE1OTQyMzA5MDAsImlhdCI6MTU5NDIzMDYwMCwianRpIjoiZWZiMzc3M2QtM2EyOC00M2UyLTlm"
    "YmMtYjkzNmE5YWUzODhiIn0"
    ".Cbey3n5NkDRoCLHZ2WMFc1z_RY8Rlq5oGxdAYfbrBPMiJXLCwjbYoU0av2CQj-Olhbnpe7Vs8vzJ5oHP5gc2-0ooc5J49t4U"
    "z9iYKpiM9KLUrqaJe0umc_klM2-ynHAI"
)
SANDBOX_IAT = 1594230600  # 2020-07-08T17:50:00Z; exp = iat + 300
DURING_SANDBOX_TOKEN = datetime.fromtimestamp(SANDBOX_IAT + 60, UTC)

SPEC_EXAMPLE_JWKS = {
    "keys": [
        {
            "kty": "EC",
            "use": "sig",
            "crv": "P-384",
            "kid": "example-kid",
            "x": "46SDH7Znh821wblCBglA61sNE9ZrHYKKt3qRtRTmSXyOI_FIGBLWrWa0GPUkDCEk",
            "y": "XMcRuuoGW7CXjQdy-F5i3FeBE0x9hPLdeFdSoDd3ELmx404tLX0VRRcqzAsPhXcI",
            "alg": "ES384",
        }
    ]
}
SPEC_EXAMPLE_TOKEN = (
    "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6ImV4YW1wbGUta2lkIiwiamt1IjoiaHR0cHM6Ly9maGlyLWVoci5leGFt"
    "cGxlLmNvbS9qd2tfdXJpIn0"
    ".eyJpc3MiOiJodHRwczovL2ZoaXItZWhyLmV4YW1wbGUuY29tLyIsImF1ZCI6Imh0dHBzOi8vY2RzLmV4YW1wbGUub3JnL2Nkcy1z"
    "ZXJ2aWNlcy9zb21lLXNlcnZpY2UiLCJleHAiOjE0MjI1Njg4NjAsImlhdCI6MTMxMTI4MDk3MCwianRpIjoiZWUyMmIwMjEtZTFi"
    "Ny00NjExLWJhNWItOGVlYzZhMzNhYzFlIiwidGVuYW50IjoiMmRkZDZjM2EtOGU5YS00NGM2LWEzMDUtNTIxMTFhZDMwMmEyIn0"
    ".d1WfLjGRKlcWB94l9do4cM8REXeYJLL6SGUBO8VHZhfM8mwKYP70EMxJ67War4TQblEpaQrp11wx5p7oPFm2ETYgCicS84vXWEIY"
    "TdjooZdooCSDf2L8-i4awdoUwiEb"
)


def sandbox_verifier(now: datetime = DURING_SANDBOX_TOKEN) -> JwtVerifier:
    return JwtVerifier(
        [TrustedIssuer(iss=SANDBOX_ISS, jwks_file=SANDBOX_JWKS)],
        MemoryReplayCache(clock=lambda: now),
        clock=lambda: now,
    )


def test_pinned_sandbox_jwks_is_the_shared_copy() -> None:
    if not SHARED_SANDBOX_JWKS.exists():
        pytest.skip(f"shared spec folder not beside the repository ({SHARED_SANDBOX_JWKS})")
    assert SANDBOX_JWKS.read_bytes() == SHARED_SANDBOX_JWKS.read_bytes()


def test_pinned_sandbox_jwks_resolves_its_kid_to_an_es384_public_key() -> None:
    key = PinnedJwks(SANDBOX_JWKS).key(SANDBOX_KID)
    assert key is not None
    assert key.alg == "ES384"
    assert isinstance(key.key, ec.EllipticCurvePublicKey)
    assert isinstance(key.key.curve, ec.SECP384R1)


def test_real_sandbox_token_verifies_with_time_frozen_in_its_lifetime() -> None:
    claims = sandbox_verifier().verify(f"Bearer {SANDBOX_TOKEN}", SANDBOX_AUD)
    assert claims == {
        "iss": SANDBOX_ISS,
        "aud": SANDBOX_AUD,
        "exp": SANDBOX_IAT + 300,
        "iat": SANDBOX_IAT,
        "jti": "efb3773d-3a28-43e2-9fbc-b936a9ae388b",
    }


def test_real_sandbox_token_is_refused_today_as_expired() -> None:
    with pytest.raises(AuthError, match="expired"):
        sandbox_verifier(datetime.now(UTC)).verify(f"Bearer {SANDBOX_TOKEN}", SANDBOX_AUD)


def test_real_sandbox_token_is_refused_at_another_endpoint() -> None:
    with pytest.raises(AuthError, match="aud is not this endpoint"):
        sandbox_verifier().verify(f"Bearer {SANDBOX_TOKEN}", "https://cds.example.org/cds-services/ketamine")


def test_altered_sandbox_signature_is_refused() -> None:
    header, payload, signature = SANDBOX_TOKEN.split(".")
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]
    with pytest.raises(AuthError, match="signature does not verify"):
        sandbox_verifier().verify(f"Bearer {header}.{payload}.{flipped}", SANDBOX_AUD)


def test_token_we_sign_under_the_sandbox_kid_is_refused() -> None:
    """What an impostor can do without the Sandbox's private key: a well-formed Sandbox-style token."""
    impostor = SigningKey(SANDBOX_KID, "ES384", ec.generate_private_key(ec.SECP384R1()))
    now = int(DURING_SANDBOX_TOKEN.timestamp())
    payload = {"iss": SANDBOX_ISS, "aud": SANDBOX_AUD, "iat": now, "exp": now + 300, "jti": "forged-1"}
    token = sign(impostor, payload, jku="https://sandbox.cds-hooks.org/.well-known/jwks.json")
    with pytest.raises(AuthError, match="signature does not verify"):
        sandbox_verifier().verify(f"Bearer {token}", SANDBOX_AUD)


def test_cds_hooks_spec_example_token_verifies_against_its_example_jwks(tmp_path: Path) -> None:
    jwks = tmp_path / "spec-example-jwks.json"
    jwks.write_text(json.dumps(SPEC_EXAMPLE_JWKS))
    issuers = [TrustedIssuer(iss="https://fhir-ehr.example.com/", jwks_file=jwks)]
    aud = "https://cds.example.org/cds-services/some-service"
    during = datetime(2012, 1, 1, tzinfo=UTC)
    # The example token lives 3.5 years, far over our default one-hour cap ...
    with pytest.raises(AuthError, match="lifetime"):
        JwtVerifier(issuers, MemoryReplayCache(), clock=lambda: during).verify(
            f"Bearer {SPEC_EXAMPLE_TOKEN}", aud
        )
    # ... with the cap lifted, it verifies: signature, iss, aud, iat, exp, jti and tenant as published.
    lenient = JwtVerifier(issuers, MemoryReplayCache(), clock=lambda: during, max_lifetime_s=4 * 365 * 86400)
    claims = lenient.verify(f"Bearer {SPEC_EXAMPLE_TOKEN}", aud)
    assert claims["tenant"] == "2ddd6c3a-8e9a-44c6-a305-52111ad302a2"
