"""JSON Web Key Sets of trusted issuers: parsing, a pinned file, or a URL fetched and cached.

Only keys that can verify ES384 (EC P-384) or RS384 (RSA >= 2048 bits) are kept; everything else in a
set (symmetric "oct" keys, other curves, encryption keys, keys whose declared ``alg`` is another
algorithm) is dropped when the set is read, so a verifier can never be handed a key of the wrong kind.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.ec import SECP384R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from cds.errors import ConfigError
from cds.security.issuers import TrustConfigError, TrustedIssuer

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS: frozenset[str] = frozenset({"ES384", "RS384"})
MIN_RSA_BITS = 2048
# A JWK Set is a few kilobytes; refuse to read an endless or hostile response into memory.
MAX_JWKS_BYTES = 256 * 1024


class JwksError(ConfigError):
    """A key set could not be read or fetched; the message is for logs."""


class KeysNotAtHand(Exception):
    """The key could be had only over the network (a fetch, or another thread's fetch under way):
    look it up with `key` in a worker thread instead."""


@dataclass(frozen=True)
class VerificationKey:
    """A public key and the one algorithm it may verify."""

    kid: str
    alg: str
    key: EllipticCurvePublicKey | RSAPublicKey


def _parse_key(jwk: dict[str, Any]) -> VerificationKey | str:
    """The usable key, or the reason it is skipped."""
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        return "no kid (CDS Hooks requires one)"
    if jwk.get("use", "sig") != "sig":
        return f"kid {kid!r}: use is not 'sig'"
    if "d" in jwk:
        # A published private key is a leaked key: trusting it would accept anyone's signature.
        return f"kid {kid!r}: contains private key material"
    kty = jwk.get("kty")
    raw = json.dumps(jwk)
    key: EllipticCurvePublicKey | RSAPublicKey
    try:
        if kty == "EC":
            ec_key = ECAlgorithm.from_jwk(raw)
            if not isinstance(ec_key, EllipticCurvePublicKey) or not isinstance(ec_key.curve, SECP384R1):
                return f"kid {kid!r}: EC key is not on P-384 (ES384 needs P-384)"
            alg, key = "ES384", ec_key
        elif kty == "RSA":
            rsa_key = RSAAlgorithm.from_jwk(raw)
            if not isinstance(rsa_key, RSAPublicKey):
                return f"kid {kid!r}: not an RSA public key"
            if rsa_key.key_size < MIN_RSA_BITS:
                return f"kid {kid!r}: RSA key shorter than {MIN_RSA_BITS} bits"
            alg, key = "RS384", rsa_key
        else:
            return f"kid {kid!r}: key type {kty!r} cannot verify ES384 or RS384"
    except (InvalidKeyError, ValueError, TypeError, KeyError) as exc:
        return f"kid {kid!r}: not a valid {kty} JWK ({exc})"
    declared = jwk.get("alg")
    if declared is not None and declared != alg:
        return f"kid {kid!r}: declared alg {declared!r} is not {alg}"
    return VerificationKey(kid=kid, alg=alg, key=key)


def parse_jwks(document: Any, *, source: str) -> dict[str, VerificationKey]:
    """Usable keys of a JWK Set by kid. Raises JwksError if there is no usable key or a kid repeats."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError(f"{source}: not a JWK Set (expected an object with a 'keys' list)")
    keys: dict[str, VerificationKey] = {}
    for index, jwk in enumerate(document["keys"]):
        if not isinstance(jwk, dict):
            log.warning("%s: key %d skipped: not an object", source, index)
            continue
        parsed = _parse_key(jwk)
        if isinstance(parsed, str):
            log.warning("%s: key %d skipped: %s", source, index, parsed)
            continue
        if parsed.kid in keys:
            # The spec requires kids to be unique in a set; with two, which one signed is ambiguous.
            raise JwksError(f"{source}: kid {parsed.kid!r} appears twice")
        keys[parsed.kid] = parsed
    if not keys:
        raise JwksError(f"{source}: no usable ES384 (EC P-384) or RS384 (RSA) signing key")
    return keys


class KeySource(Protocol):
    def key(self, kid: str) -> VerificationKey | None:
        """The key for kid, None if the issuer has no such key. Raises JwksError if no keys can be had."""
        ...

    def key_at_hand(self, kid: str) -> VerificationKey | None:
        """As `key`, without the network and without waiting (fit for the event loop): raises
        KeysNotAtHand where `key` would fetch."""
        ...


class PinnedJwks:
    """A JWK Set read once from a local file: works offline, changes only with the file."""

    def __init__(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise TrustConfigError(f"{path}: cannot read JWKS file: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise TrustConfigError(f"{path}: JWKS file is not valid JSON: {exc}") from None
        try:
            self._keys = parse_jwks(document, source=str(path))
        except JwksError as exc:
            raise TrustConfigError(str(exc)) from None

    def key(self, kid: str) -> VerificationKey | None:
        return self._keys.get(kid)

    key_at_hand = key


class RemoteJwks:
    """A JWK Set fetched from a URL and cached.

    Refreshed when older than ``ttl_s``. A kid not in the cache triggers one refetch (the client may
    have rotated keys), but at most once per ``min_refetch_s`` so that tokens with made-up kids cannot
    turn us into a request amplifier against the issuer. If a refresh fails, the previous keys stay in
    use (an issuer's brief outage should not lock every clinician out).
    """

    def __init__(
        self,
        url: str,
        client: httpx.Client,
        *,
        ttl_s: float = 3600.0,
        min_refetch_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = client
        self._ttl_s = ttl_s
        self._min_refetch_s = min_refetch_s
        self._clock = clock
        self._keys: dict[str, VerificationKey] | None = None
        self._fetched_at = float("-inf")  # last successful fetch
        self._attempted_at = float("-inf")  # last attempt, successful or not
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        self._attempted_at = self._clock()
        try:
            with self._client.stream("GET", self.url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise JwksError(f"{self.url}: HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksError(f"{self.url}: response larger than {MAX_JWKS_BYTES} bytes")
            document = json.loads(body)
        except httpx.HTTPError as exc:
            raise JwksError(f"{self.url}: fetch failed: {type(exc).__name__}: {exc}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise JwksError(f"{self.url}: response is not JSON: {exc}") from None
        self._keys = parse_jwks(document, source=self.url)
        self._fetched_at = self._clock()

    def _try_fetch(self) -> None:
        try:
            self._fetch()
        except JwksError as exc:
            if self._keys is None:
                raise
            log.warning("JWKS refresh failed, keeping the previous keys: %s", exc)

    def key(self, kid: str) -> VerificationKey | None:
        with self._lock:  # one fetch at a time; concurrent callers wait for its result
            return self._key(kid, fetch=True)

    def key_at_hand(self, kid: str) -> VerificationKey | None:
        if not self._lock.acquire(blocking=False):
            raise KeysNotAtHand(self.url)  # a fetch is under way in another thread
        try:
            return self._key(kid, fetch=False)
        finally:
            self._lock.release()

    def _key(self, kid: str, *, fetch: bool) -> VerificationKey | None:
        """`key`'s decisions, under the lock; without `fetch`, KeysNotAtHand wherever it would fetch."""
        now = self._clock()
        if self._keys is None or now - self._fetched_at >= self._ttl_s:
            if now - self._attempted_at >= self._min_refetch_s:
                self._fetch_or_raise(fetch)  # raises only when there are no keys at all
            elif self._keys is None:
                raise JwksError(
                    f"{self.url}: no keys (last fetch failed; next try after {self._min_refetch_s:g} s)"
                )
        assert self._keys is not None
        found = self._keys.get(kid)
        if found is None and self._clock() - self._attempted_at >= self._min_refetch_s:
            self._fetch_or_raise(fetch)
            found = self._keys.get(kid)
        return found

    def _fetch_or_raise(self, fetch: bool) -> None:
        if not fetch:
            raise KeysNotAtHand(self.url)
        self._try_fetch()


def key_source_for(
    issuer: TrustedIssuer, client: httpx.Client, *, clock: Callable[[], float] = time.monotonic
) -> KeySource:
    if issuer.jwks_file is not None:
        return PinnedJwks(issuer.jwks_file)
    assert issuer.jwks_url is not None  # TrustedIssuer guarantees exactly one source
    return RemoteJwks(issuer.jwks_url, client, clock=clock)
