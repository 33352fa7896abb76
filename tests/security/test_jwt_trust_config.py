"""The trusted-issuers file and the JWK Sets it points to: good files load, bad ones fail clearly."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm
from jwt_test_helpers import AUD, ISS, NOW, SigningKey, sign
from test_jwt_verify import b64, unsigned

from cds.security import (
    AuthError,
    JwtVerifier,
    MemoryReplayCache,
    TrustConfigError,
    TrustedIssuer,
    load_trusted_issuers,
)
from cds.security.jwks import PinnedJwks


def test_yaml_file_with_relative_jwks_file_resolves_against_its_folder(
    tmp_path: Path, jwks_file: Path
) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "keys").mkdir()
    jwks_file.rename(conf_dir / "keys" / "ehr.json")
    (conf_dir / "issuers.yaml").write_text(
        f"- iss: {ISS}\n  jwks_file: keys/ehr.json\n"
        "- iss: https://sandbox.cds-hooks.org\n  jwks_url: https://sandbox.cds-hooks.org/.well-known/jwks.json\n"
    )
    issuers = load_trusted_issuers(conf_dir / "issuers.yaml")
    assert issuers[0].jwks_file == (conf_dir / "keys" / "ehr.json").resolve()
    assert issuers[1].jwks_url == "https://sandbox.cds-hooks.org/.well-known/jwks.json"


def test_json_file_loads_and_the_verifier_uses_it(
    tmp_path: Path, jwks_file: Path, ec_key: SigningKey
) -> None:
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps([{"iss": ISS, "jwks_file": jwks_file.name}]))
    verifier = JwtVerifier(load_trusted_issuers(path), MemoryReplayCache(), clock=lambda: NOW)
    assert verifier.verify(f"Bearer {sign(ec_key)}", AUD)["iss"] == ISS


@pytest.mark.parametrize(
    "content,expected",
    [
        ("{}", "expected a non-empty list"),
        ("[]", "expected a non-empty list"),
        ("- just a string\n", "entry 1: expected a mapping"),
        ("- iss: a\n", "exactly one of jwks_file or jwks_url"),
        (
            "- iss: a\n  jwks_file: k.json\n  jwks_url: https://x/jwks\n",
            "exactly one of jwks_file or jwks_url",
        ),
        ("- iss: a\n  jwks_url: http://ehr.example.org/jwks\n", "must be https"),
        ("- iss: a\n  jwks_url: https://x/j\n  jku: https://y\n", "jku"),
        ("- jwks_url: https://x/j\n", "iss"),
        ("- iss: a\n  jwks_url: https://x/j\n- iss: a\n  jwks_url: https://x/k\n", "listed twice"),
        ("- iss: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_issuers_file_names_file_and_problem(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "issuers.yaml"
    path.write_text(content)
    with pytest.raises(TrustConfigError) as info:
        load_trusted_issuers(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_issuers_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TrustConfigError, match="cannot read trusted issuers file"):
        load_trusted_issuers(tmp_path / "nope.yaml")


def test_http_jwks_url_is_allowed_on_loopback_only() -> None:
    assert TrustedIssuer(iss="t", jwks_url="http://127.0.0.1:8080/jwks").jwks_url
    assert TrustedIssuer(iss="t", jwks_url="http://localhost/jwks").jwks_url
    with pytest.raises(ValueError, match="must be https"):
        TrustedIssuer(iss="t", jwks_url="http://10.0.0.5/jwks")


def test_bad_pinned_jwks_fails_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(TrustConfigError, match="not valid JSON"):
        JwtVerifier([TrustedIssuer(iss=ISS, jwks_file=path)], MemoryReplayCache())
    with pytest.raises(TrustConfigError, match="cannot read JWKS file"):
        JwtVerifier([TrustedIssuer(iss=ISS, jwks_file=tmp_path / "absent.json")], MemoryReplayCache())


def test_no_issuers_is_a_configuration_error() -> None:
    with pytest.raises(TrustConfigError, match="no trusted issuers"):
        JwtVerifier([], MemoryReplayCache())


def _jwks(tmp_path: Path, *keys: dict[str, Any]) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": list(keys)}))
    return path


def test_unusable_keys_are_dropped_from_a_set(tmp_path: Path, ec_key: SigningKey) -> None:
    rsa_pub = SigningKey("rsa-rs256", "RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    declared_rs256 = rsa_pub.public_jwk() | {"alg": "RS256"}
    p256 = SigningKey("p256", "ES384", ec.generate_private_key(ec.SECP256R1())).public_jwk()
    p256.pop("alg")
    symmetric = {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}
    encryption = ec_key.public_jwk() | {"kid": "enc", "use": "enc"}
    no_kid = {k: v for k, v in ec_key.public_jwk().items() if k != "kid"}
    leaked_private = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()))) | {
        "kid": "leaked"
    }
    small_rsa = SigningKey(
        "rsa-1024", "RS384", rsa.generate_private_key(public_exponent=65537, key_size=1024)
    )
    jwks = PinnedJwks(
        _jwks(
            tmp_path,
            ec_key.public_jwk(),
            declared_rs256,
            p256,
            symmetric,
            encryption,
            no_kid,
            leaked_private,
            small_rsa.public_jwk(),
        )
    )
    assert jwks.key(ec_key.kid) is not None
    for kid in ["rsa-rs256", "p256", "hmac", "enc", "leaked", "rsa-1024"]:
        assert jwks.key(kid) is None, kid


def test_a_set_with_no_usable_key_or_a_repeated_kid_is_refused(tmp_path: Path, ec_key: SigningKey) -> None:
    with pytest.raises(TrustConfigError, match="no usable"):
        PinnedJwks(_jwks(tmp_path, {"kty": "oct", "kid": "h", "k": "c2VjcmV0"}))
    with pytest.raises(TrustConfigError, match="appears twice"):
        PinnedJwks(_jwks(tmp_path, ec_key.public_jwk(), ec_key.public_jwk()))


def test_symmetric_key_in_jwks_cannot_verify_hmac_token(tmp_path: Path) -> None:
    """Even if a client's JWKS wrongly lists an 'oct' key, an HS384 token with that kid is refused."""
    ec_pub = SigningKey("ec", "ES384", ec.generate_private_key(ec.SECP384R1())).public_jwk()
    path = _jwks(tmp_path, ec_pub, {"kty": "oct", "kid": "hmac", "k": b64(b"secret")})
    verifier = JwtVerifier([TrustedIssuer(iss=ISS, jwks_file=path)], MemoryReplayCache())
    signing_input = unsigned({"alg": "HS384", "kid": "hmac"}, {"iss": ISS})
    token = signing_input + "." + b64(hmac.new(b"secret", signing_input.encode(), hashlib.sha384).digest())
    with pytest.raises(AuthError, match="alg not allowed"):
        verifier.verify(f"Bearer {token}", AUD)


def test_each_issuer_lists_the_fhir_servers_its_calls_may_name(tmp_path: Path, jwks_file: Path) -> None:
    path = tmp_path / "issuers.yaml"
    path.write_text(
        f"- iss: {ISS}\n  jwks_file: {jwks_file.name}\n"
        "  fhir_servers: ['https://EHR.example:443/fhir/R4/', 'http://127.0.0.1:8080/fhir']\n"
        "- iss: https://sandbox.cds-hooks.org\n  jwks_file: " + jwks_file.name + "\n"
    )
    ehr, sandbox = load_trusted_issuers(path)
    assert ehr.fhir_servers == ("https://ehr.example/fhir/R4", "http://127.0.0.1:8080/fhir")
    assert sandbox.fhir_servers == ()  # none listed: the service fetches nothing for this client


@pytest.mark.parametrize(
    "server",
    [
        "ftp://ehr.example/fhir",
        "ehr.example/fhir",
        "https://user:pw@ehr.example/fhir",
        "https://ehr.example/fhir?x=1",
    ],
)
def test_a_fhir_server_that_is_not_a_base_url_stops_start_up(
    tmp_path: Path, jwks_file: Path, server: str
) -> None:
    path = tmp_path / "issuers.yaml"
    path.write_text(f"- iss: {ISS}\n  jwks_file: {jwks_file.name}\n  fhir_servers: ['{server}']\n")
    with pytest.raises(TrustConfigError, match=r"entry 1: .*fhir_servers"):
        load_trusted_issuers(path)
