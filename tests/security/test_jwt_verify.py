"""JwtVerifier: what a trusted CDS client's token must look like, and each way a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt_test_helpers import AUD, ISS, NOW, SigningKey, claims, sign

from cds.security import AuthError, JwtVerifier, MemoryReplayCache


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())


def refused(verifier: JwtVerifier, token: str | None, audience: str = AUD, *, bearer: bool = True) -> str:
    with pytest.raises(AuthError) as info:
        verifier.verify(f"Bearer {token}" if bearer and token is not None else token, audience)
    return str(info.value)


# --- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key_name", ["ec_key", "rsa_key"])
def test_valid_token_is_accepted_and_claims_returned(
    verifier: JwtVerifier, key_name: str, request: pytest.FixtureRequest
) -> None:
    key: SigningKey = request.getfixturevalue(key_name)
    payload = claims(tenant="org-42")
    got = verifier.verify(f"Bearer {sign(key, payload)}", AUD)
    assert got["iss"] == ISS
    assert got["jti"] == payload["jti"]
    assert got["tenant"] == "org-42"


def test_aud_may_be_a_list_containing_the_endpoint(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    token = sign(ec_key, claims(aud=["https://other.example.org/x", AUD]))
    assert verifier.verify(f"bearer {token}", AUD)["aud"][1] == AUD  # scheme is case-insensitive


def test_clock_skew_within_leeway_is_tolerated(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    now = int(NOW.timestamp())
    expired_30s_ago = claims(iat=now - 330, exp=now - 30)
    issued_30s_ahead = claims(iat=now + 30, exp=now + 330)
    verifier.verify(f"Bearer {sign(ec_key, expired_30s_ago)}", AUD)
    verifier.verify(f"Bearer {sign(ec_key, issued_30s_ahead)}", AUD)


# --- refused: time, audience, issuer, key ----------------------------------------------------------


def test_expired_token_is_refused(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    now = int(NOW.timestamp())
    assert "expired" in refused(verifier, sign(ec_key, claims(iat=now - 400, exp=now - 61)))


def test_iat_in_the_future_is_refused(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    now = int(NOW.timestamp())
    assert "iat is in the future" in refused(verifier, sign(ec_key, claims(iat=now + 61, exp=now + 300)))


def test_leeway_is_configurable(make_verifier: Callable[..., JwtVerifier], ec_key: SigningKey) -> None:
    now = int(NOW.timestamp())
    strict = make_verifier(leeway_s=0)
    assert "expired" in refused(strict, sign(ec_key, claims(iat=now - 300, exp=now - 1)))


def test_overlong_lifetime_is_refused(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    now = int(NOW.timestamp())
    assert "lifetime" in refused(verifier, sign(ec_key, claims(iat=now, exp=now + 7 * 24 * 3600)))


def test_wrong_audience_is_refused(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    token = sign(ec_key, claims(aud="https://cds.example.org/cds-services/another-service"))
    assert "aud is not this endpoint" in refused(verifier, token)


def test_unknown_issuer_is_refused(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    # Signed with a trusted key, but the issuer is not on the allow-list.
    assert "issuer not trusted" in refused(verifier, sign(ec_key, claims(iss="https://evil.example.com")))


def test_unknown_kid_is_refused(verifier: JwtVerifier) -> None:
    stranger = SigningKey("not-in-jwks", "ES384", ec.generate_private_key(ec.SECP384R1()))
    assert "kid not in the issuer's key set" in refused(verifier, sign(stranger))


def test_right_kid_wrong_private_key_fails_signature(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    impostor = SigningKey(ec_key.kid, "ES384", ec.generate_private_key(ec.SECP384R1()))
    assert "signature does not verify" in refused(verifier, sign(impostor))


def test_tampered_payload_fails_signature(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    header, _, signature = sign(ec_key).split(".")
    forged = header + "." + b64(json.dumps(claims(tenant="someone-else")).encode()) + "." + signature
    assert "signature does not verify" in refused(verifier, forged)


def test_key_type_must_match_alg(verifier: JwtVerifier, rsa_key: SigningKey, ec_key: SigningKey) -> None:
    # RS384 token naming the EC key's kid: refused before any signature check is attempted.
    token = sign(rsa_key, kid=ec_key.kid)
    assert "key is for ES384, token says RS384" in refused(verifier, token)


def test_es256_is_not_accepted(verifier: JwtVerifier) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(), p256, algorithm="ES256", headers={"kid": "ec-1"})
    assert "alg not allowed" in refused(verifier, token)


# --- refused: algorithm attacks --------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(verifier: JwtVerifier, ec_key: SigningKey, alg: str) -> None:
    token = unsigned({"alg": alg, "typ": "JWT", "kid": ec_key.kid}, claims()) + "."
    assert "alg not allowed" in refused(verifier, token)


@pytest.mark.parametrize("alg,digest", [("HS256", hashlib.sha256), ("HS384", hashlib.sha384)])
@pytest.mark.parametrize("key_name", ["ec_key", "rsa_key"])
def test_hmac_signed_with_the_public_key_is_refused(
    verifier: JwtVerifier, request: pytest.FixtureRequest, key_name: str, alg: str, digest: Any
) -> None:
    """Algorithm confusion: a verifier that trusted the header's alg would HMAC-check with the PEM."""
    key: SigningKey = request.getfixturevalue(key_name)
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = unsigned({"alg": alg, "typ": "JWT", "kid": key.kid}, claims())
    mac = hmac.new(pem, signing_input.encode(), digest).digest()
    assert "alg not allowed" in refused(verifier, signing_input + "." + b64(mac))


# --- refused: replay and claims ------------------------------------------------------------------


def test_replayed_jti_is_refused(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    token = sign(ec_key)
    verifier.verify(f"Bearer {token}", AUD)
    assert "replay" in refused(verifier, token)
    # Same jti in a freshly signed token: still a replay (the jti, not the token bytes, is the nonce).
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert "replay" in refused(verifier, sign(ec_key, claims(jti=jti, iat=int(NOW.timestamp()) - 1)))


def test_replay_cache_is_remembered_until_exp_plus_leeway(ec_key: SigningKey, make_verifier: Any) -> None:
    clock = [NOW]
    cache = MemoryReplayCache(clock=lambda: clock[0])
    v = make_verifier(replay=cache, clock=lambda: clock[0])
    payload = claims()
    v.verify(f"Bearer {sign(ec_key, payload)}", AUD)
    clock[0] = NOW + timedelta(seconds=300 + 59)  # still acceptable (within leeway): still remembered
    assert "replay" in refused(v, sign(ec_key, payload))
    clock[0] = NOW + timedelta(seconds=300 + 61)  # no longer acceptable: forgotten, and refused as expired
    assert "expired" in refused(v, sign(ec_key, payload))
    assert len(cache) == 0


@pytest.mark.parametrize("missing", ["jti", "exp", "iat", "aud"])
def test_missing_required_claim_is_refused(verifier: JwtVerifier, ec_key: SigningKey, missing: str) -> None:
    assert f"required claim '{missing}' missing" in refused(verifier, sign(ec_key, claims(**{missing: None})))


@pytest.mark.parametrize("jti", ["", 42, "x" * 256])
def test_unusable_jti_is_refused(verifier: JwtVerifier, ec_key: SigningKey, jti: Any) -> None:
    with pytest.raises(AuthError):
        verifier.verify(f"Bearer {sign(ec_key, claims(jti=jti))}", AUD)


def test_missing_kid_is_refused(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    token = jwt.encode(claims(), ec_key.private, algorithm="ES384")
    assert "kid missing" in refused(verifier, token)


def test_wrong_typ_is_refused(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    assert "typ" in refused(verifier, sign(ec_key, typ="at+jwt"))


# --- refused: the header itself ------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_authorization_header_is_refused(verifier: JwtVerifier, header: str | None) -> None:
    assert "no Authorization header" in refused(verifier, header, bearer=False)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer a.b",
        "Bearer a.b.c extra",
        "Bearer a!b.c.d",
        "Token eyJ.eyJ.sig",
        "Bearer " + "a" * 20000 + ".b.c",
    ],
)
def test_malformed_authorization_header_is_refused(verifier: JwtVerifier, header: str) -> None:
    refused(verifier, header, bearer=False)


@pytest.mark.parametrize("token", ["aGVsbG8.d29ybGQ.c2ln", "e30.e30.c2ln"])
def test_well_shaped_garbage_is_refused(verifier: JwtVerifier, token: str) -> None:
    refused(verifier, token)


# --- what reaches the logs -----------------------------------------------------------------------


def test_error_text_names_iss_and_kid_but_no_other_token_content(
    verifier: JwtVerifier, ec_key: SigningKey
) -> None:
    secret = "patient-Ann-Example-1970"
    token = sign(ec_key, claims(aud="https://elsewhere.example/x", sub=secret, jti=secret))
    message = refused(verifier, token)
    assert ISS in message and ec_key.kid in message
    assert secret not in message
    assert token.split(".")[1] not in message and token.split(".")[2] not in message


def test_hostile_kid_cannot_forge_log_lines(verifier: JwtVerifier, ec_key: SigningKey) -> None:
    message = refused(verifier, sign(ec_key, kid="x\nINFO accepted token for admin" + "y" * 200))
    assert "\n" not in message
    assert len(message) < 250
