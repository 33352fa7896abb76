"""Issuers whose JWK Set is fetched from a URL: cache, TTL, key rotation, rate-limited refetch."""

from __future__ import annotations

import json

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt_test_helpers import AUD, ISS, NOW, SigningKey, sign

from cds.security import AuthError, JwtVerifier, MemoryReplayCache, TrustedIssuer
from cds.security.jwks import JwksError, RemoteJwks

URL = "https://ehr.example.org/.well-known/jwks.json"


class FakeIssuer:
    """Serves a JWK Set the test can change, counts requests, can be made to fail."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.requests = 0
        self.status = 200
        self.body: bytes | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        assert str(request.url) == URL
        if self.body is not None:
            return httpx.Response(self.status, content=self.body)
        return httpx.Response(self.status, json={"keys": [k.public_jwk() for k in self.keys]})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def new_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES384", ec.generate_private_key(ec.SECP384R1()))


def test_verifier_fetches_jwks_url_once_and_caches_it(ec_key: SigningKey) -> None:
    issuer = FakeIssuer(ec_key)
    verifier = JwtVerifier(
        [TrustedIssuer(iss=ISS, jwks_url=URL)],
        MemoryReplayCache(),
        http_client=issuer.client(),
        clock=lambda: NOW,
    )
    assert issuer.requests == 0  # lazily: start-up does not depend on the network
    for _ in range(3):
        verifier.verify(f"Bearer {sign(ec_key)}", AUD)
    assert issuer.requests == 1


def test_unknown_kid_refetches_once_then_is_rate_limited(ec_key: SigningKey) -> None:
    issuer, clock = FakeIssuer(ec_key), Clock()
    jwks = RemoteJwks(URL, issuer.client(), ttl_s=3600, min_refetch_s=60, clock=clock)
    assert jwks.key(ec_key.kid) is not None
    assert issuer.requests == 1

    clock.t += 61
    rotated = new_key("rotated-in")
    issuer.keys.append(rotated)
    assert jwks.key("rotated-in") is not None  # the unknown kid triggered one refetch
    assert issuer.requests == 2

    for kid in ["made-up-1", "made-up-2", "made-up-3"]:  # a flood of bogus kids
        assert jwks.key(kid) is None
    assert issuer.requests == 2  # none: the last fetch was under 60 s ago
    clock.t += 61
    assert jwks.key("made-up-4") is None
    assert jwks.key("made-up-5") is None
    assert issuer.requests == 3  # one refetch per 60 s, however many unknown kids arrive


def test_keys_are_refreshed_after_ttl(ec_key: SigningKey) -> None:
    issuer, clock = FakeIssuer(ec_key), Clock()
    jwks = RemoteJwks(URL, issuer.client(), ttl_s=300, min_refetch_s=60, clock=clock)
    jwks.key(ec_key.kid)
    issuer.keys = [new_key("only-new")]  # the issuer retired ec-1
    clock.t += 301
    assert jwks.key(ec_key.kid) is None
    assert issuer.requests == 2


def test_failed_refresh_keeps_previous_keys(ec_key: SigningKey) -> None:
    issuer, clock = FakeIssuer(ec_key), Clock()
    jwks = RemoteJwks(URL, issuer.client(), ttl_s=300, min_refetch_s=60, clock=clock)
    jwks.key(ec_key.kid)
    issuer.status = 503
    clock.t += 301
    assert jwks.key(ec_key.kid) is not None
    assert issuer.requests == 2


@pytest.mark.parametrize(
    "status,body,expected",
    [
        (503, b"", "HTTP 503"),
        (200, b"<html>", "not JSON"),
        (200, json.dumps({"keys": []}).encode(), "no usable"),
        (200, b"[" + b" " * 300_000 + b"]", "larger than"),
    ],
)
def test_unusable_jwks_response_means_no_keys(status: int, body: bytes, expected: str) -> None:
    issuer, clock = FakeIssuer(), Clock()
    issuer.status, issuer.body = status, body
    jwks = RemoteJwks(URL, issuer.client(), clock=clock)
    with pytest.raises(JwksError, match=expected):
        jwks.key("any")
    with pytest.raises(JwksError, match="last fetch failed"):  # and does not hammer the issuer
        jwks.key("any")
    assert issuer.requests == 1


def test_unreachable_jwks_url_is_an_auth_error_for_the_request(ec_key: SigningKey) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    verifier = JwtVerifier(
        [TrustedIssuer(iss=ISS, jwks_url=URL)],
        MemoryReplayCache(),
        http_client=httpx.Client(transport=httpx.MockTransport(refuse)),
        clock=lambda: NOW,
    )
    with pytest.raises(AuthError, match="keys unavailable"):
        verifier.verify(f"Bearer {sign(ec_key)}", AUD)


# --- keys at hand: what the event loop may ask without the network ----------------------------------


def test_keys_at_hand_never_fetch_and_answer_as_key_does_once_fetched(ec_key: SigningKey) -> None:
    from cds.security.jwks import KeysNotAtHand

    issuer, clock = FakeIssuer(ec_key), Clock()
    jwks = RemoteJwks(URL, issuer.client(), ttl_s=3600, min_refetch_s=60, clock=clock)
    with pytest.raises(KeysNotAtHand):
        jwks.key_at_hand(ec_key.kid)  # nothing fetched yet: only `key` (in a thread) may fetch
    assert issuer.requests == 0
    assert jwks.key(ec_key.kid) is not None
    assert jwks.key_at_hand(ec_key.kid) == jwks.key(ec_key.kid)
    assert jwks.key_at_hand("made-up") is None  # a refetch was made under 60 s ago: `key` says None too
    clock.t += 61
    with pytest.raises(KeysNotAtHand):
        jwks.key_at_hand("made-up")  # `key` would refetch for an unknown kid now
    clock.t += 3600
    with pytest.raises(KeysNotAtHand):
        jwks.key_at_hand(ec_key.kid)  # stale: `key` would refresh
    assert issuer.requests == 1


def test_keys_are_not_at_hand_while_another_thread_fetches(ec_key: SigningKey) -> None:
    """The event loop must not wait for the lock a fetching thread holds."""
    from cds.security.jwks import KeysNotAtHand

    jwks = RemoteJwks(URL, FakeIssuer(ec_key).client())
    assert jwks.key(ec_key.kid) is not None
    with jwks._lock, pytest.raises(KeysNotAtHand):
        jwks.key_at_hand(ec_key.kid)


def test_verify_signed_without_the_network_checks_everything_but_the_replay(ec_key: SigningKey) -> None:
    from cds.security.jwks import KeysNotAtHand

    issuer = FakeIssuer(ec_key)
    verifier = JwtVerifier(
        [TrustedIssuer(iss=ISS, jwks_url=URL)],
        MemoryReplayCache(clock=lambda: NOW),
        http_client=issuer.client(),
        clock=lambda: NOW,
    )
    token = f"Bearer {sign(ec_key)}"
    with pytest.raises(KeysNotAtHand):
        verifier.verify_signed(token, AUD, network=False)
    assert issuer.requests == 0
    claims, use = verifier.verify_signed(token, AUD)  # fetches
    assert verifier.verify_signed(token, AUD, network=False) == (claims, use)
    with pytest.raises(AuthError, match="signature"):
        verifier.verify_signed(token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB"), AUD, network=False)
    with pytest.raises(AuthError, match="aud"):
        verifier.verify_signed(token, AUD + "/other", network=False)
    verifier.check_unspent(use)  # nothing recorded yet
    assert verifier.spend(use)
    with pytest.raises(AuthError, match="replay"):
        verifier.check_unspent(use)
    assert issuer.requests == 1
