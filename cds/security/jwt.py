"""Authenticate CDS clients: verify the ``Authorization: Bearer <JWT>`` of a CDS Hooks request.

CDS Hooks 2.0 "Trusting CDS Clients": the client signs a short-lived JWT (header ``alg``, ``kid``,
``typ``; claims ``iss``, ``aud``, ``exp``, ``iat``, ``jti``, optional ``tenant``) with its private key;
the service checks it against the public key published by that issuer. Rules enforced here:

* ``alg`` is ES384 or RS384 only (the two the spec recommends). ``none`` and every HMAC algorithm are
  refused before any key is looked at, and the key found by ``kid`` must itself be of that algorithm's
  type, so "HS256 signed with the public key" (algorithm confusion) cannot verify.
* ``iss`` must be on the allow-list; its keys come from our configuration, never from the token's ``jku``.
* ``aud`` must be the URL of the endpoint called (a string or a list containing it).
* ``exp`` in the future, ``iat`` and ``nbf`` not in the future, each within ``leeway_s`` of clock skew.
* ``jti`` required and never accepted twice while the token could still be accepted.

Any failure raises AuthError. The service answers a bare 401 and logs ``str(error)``, which names at
most the token's iss and kid (both shown with repr() and shortened, so a hostile value cannot forge log
lines) and never other token contents.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
from jwt.exceptions import (
    DecodeError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from cds import errors
from cds.security.issuers import TrustConfigError, TrustedIssuer, load_trusted_issuers
from cds.security.jwks import ALLOWED_ALGORITHMS, JwksError, KeysNotAtHand, KeySource, key_source_for
from cds.security.replay import MemoryReplayCache, ReplayCache, TokenUse, utc_now

__all__ = [
    "DEFAULT_LEEWAY_S",
    "DEFAULT_MAX_LIFETIME_S",
    "AuthError",
    "JwtVerifier",
    "KeysNotAtHand",
    "MemoryReplayCache",
    "ReplayCache",
    "TrustConfigError",
    "TrustedIssuer",
    "load_trusted_issuers",
]

log = logging.getLogger(__name__)

# 60 s of clock skew: RFC 7519 allows "a few minutes"; NTP-synced hosts differ by far less than a
# second, but EHR hosts are not always well synced. CDS clients such as the Sandbox issue tokens valid
# for 5 minutes, so 60 s is a fifth of a token's life: tolerant of drift without meaningfully
# stretching the window in which a stolen token works (the replay cache covers exp + leeway).
DEFAULT_LEEWAY_S = 60
# Per-request tokens are meant to be short-lived (the Sandbox uses 5 minutes). Refusing lifetimes over
# an hour bounds how long a leaked token is useful and how long the replay cache must remember a jti.
DEFAULT_MAX_LIFETIME_S = 3600

_MAX_TOKEN_CHARS = 16 * 1024
_MAX_JTI_CHARS = 255  # the audit database's column width
# Three base64url segments; the third may be empty only so that an unsigned token reaches the alg
# check and is logged as what it is.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class AuthError(errors.AuthError):
    """The caller is not an authenticated, trusted CDS client. Answer 401; the message is for logs."""


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    # bool is an int in Python but not a NumericDate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class JwtVerifier:
    """Verify CDS client JWTs against a fixed allow-list of issuers. Thread-safe."""

    def __init__(
        self,
        issuers: list[TrustedIssuer],
        replay: ReplayCache,
        *,
        leeway_s: int = DEFAULT_LEEWAY_S,
        max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S,
        http_client: httpx.Client | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Pinned JWKS files are read now (a bad file fails start-up with TrustConfigError); JWKS URLs
        are fetched on first use with ``http_client`` (default: 5 s timeout, no redirects)."""
        if not issuers:
            raise TrustConfigError("no trusted issuers configured: every request would be refused")
        if leeway_s < 0 or max_lifetime_s <= 0:
            raise ValueError("leeway_s must be >= 0 and max_lifetime_s > 0")
        self._replay = replay
        self._leeway_s = leeway_s
        self._max_lifetime_s = max_lifetime_s
        self._clock = clock
        client = http_client if http_client is not None else httpx.Client(timeout=5.0, follow_redirects=False)
        self._sources: dict[str, KeySource] = {}
        for issuer in issuers:
            if issuer.iss in self._sources:
                raise TrustConfigError(f"issuer {issuer.iss!r} is configured twice")
            self._sources[issuer.iss] = key_source_for(issuer, client)

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """Claims of the verified token, or AuthError. ``audience`` is the full URL that was called.
        The token's use is recorded now: the same token is refused from here on."""
        claims, use = self.verify_unspent(authorization, audience)
        if not self.spend(use):
            raise AuthError(f"iss={_show(use.iss)}: jti already used (replay)")
        return claims

    def spend(self, use: TokenUse) -> bool:
        """Record a verified token's use; False if it was used already (a replay)."""
        return not self._replay.seen(use.iss, use.jti, use.expires_at)

    def verify_unspent(self, authorization: str | None, audience: str) -> tuple[dict[str, Any], TokenUse]:
        """As `verify`, but the use is left for the caller to record (`spend`, or the audit write of
        the call in the same transaction): a token already recorded is refused here, and of two
        concurrent uses of one token only the first to record it is answered."""
        claims, use = self.verify_signed(authorization, audience)
        self.check_unspent(use)
        return claims, use

    def check_unspent(self, use: TokenUse) -> None:
        """AuthError if the token's use is recorded already (a replay); records nothing."""
        if self._replay.recorded(use.iss, use.jti):
            raise AuthError(f"iss={_show(use.iss)}: jti already used (replay)")

    def verify_signed(
        self, authorization: str | None, audience: str, *, network: bool = True
    ) -> tuple[dict[str, Any], TokenUse]:
        """The token's signature, issuer, audience and times, without the replay cache (the caller
        checks it: `check_unspent`, then records the use). With `network=False`, fit for the event
        loop: raises KeysNotAtHand where the issuer's keys would have to be fetched first."""
        token = self._bearer_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except (DecodeError, ValueError):
            raise AuthError("malformed JWT header") from None
        kid = header.get("kid")
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            # The value itself is not logged: it is attacker-chosen and only ES384/RS384 matter.
            raise AuthError(
                f"kid={_show(kid)}: alg not allowed (only {', '.join(sorted(ALLOWED_ALGORITHMS))})"
            )
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise AuthError(f"kid={_show(kid)}: typ is not JWT")
        if not isinstance(kid, str) or not kid:
            raise AuthError("kid missing from JWT header")

        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (PyJWTError, ValueError):
            raise AuthError(f"kid={_show(kid)}: malformed JWT payload") from None
        iss = unverified.get("iss")
        where = f"iss={_show(iss)} kid={_show(kid)}"
        if not isinstance(iss, str) or iss not in self._sources:
            raise AuthError(f"{where}: issuer not trusted")

        source = self._sources[iss]
        try:
            key = source.key(kid) if network else source.key_at_hand(kid)
        except JwksError as exc:
            log.warning("JWKS unavailable for issuer %s: %s", _show(iss), exc)
            raise AuthError(f"{where}: issuer's keys unavailable") from None
        if key is None:
            raise AuthError(f"{where}: kid not in the issuer's key set")
        if key.alg != alg:
            raise AuthError(f"{where}: key is for {key.alg}, token says {alg}")

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.alg],
                audience=audience,
                issuer=iss,
                # Time claims are checked below against our own clock (testable, one leeway rule).
                options={
                    "require": ["iss", "aud", "exp", "iat", "jti"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except InvalidSignatureError:
            raise AuthError(f"{where}: signature does not verify") from None
        except MissingRequiredClaimError as exc:
            raise AuthError(f"{where}: required claim {exc.claim!r} missing") from None
        except InvalidAudienceError:
            raise AuthError(f"{where}: aud is not this endpoint ({audience})") from None
        except InvalidIssuerError:
            raise AuthError(f"{where}: issuer mismatch") from None
        except PyJWTError as exc:
            raise AuthError(f"{where}: invalid token ({type(exc).__name__})") from None

        expires_at = self._check_times(claims, where)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI_CHARS:
            raise AuthError(f"{where}: jti must be a string of 1 to {_MAX_JTI_CHARS} characters")
        return claims, TokenUse(iss, jti, expires_at)

    @staticmethod
    def _bearer_token(authorization: str | None) -> str:
        if authorization is None or not authorization.strip():
            raise AuthError("no Authorization header")
        parts = authorization.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise AuthError("Authorization header is not 'Bearer <token>'")
        token = parts[1]
        if len(token) > _MAX_TOKEN_CHARS or not _TOKEN_SHAPE.fullmatch(token):
            raise AuthError("bearer token is not a compact JWS")
        return token

    def _check_times(self, claims: dict[str, Any], where: str) -> datetime:
        """Check exp/iat/nbf; return how long the jti must be remembered (exp + leeway)."""
        now = self._clock().timestamp()
        exp, iat = _number(claims, "exp"), _number(claims, "iat")
        if exp is None or iat is None:
            raise AuthError(f"{where}: exp and iat must be numbers")
        if now >= exp + self._leeway_s:
            raise AuthError(f"{where}: token expired")
        if iat > now + self._leeway_s:
            raise AuthError(f"{where}: iat is in the future")
        if "nbf" in claims:
            nbf = _number(claims, "nbf")
            if nbf is None or nbf > now + self._leeway_s:
                raise AuthError(f"{where}: token not yet valid (nbf)")
        if exp <= iat or exp - iat > self._max_lifetime_s:
            raise AuthError(f"{where}: lifetime exp - iat must be within (0, {self._max_lifetime_s}] s")
        return datetime.fromtimestamp(exp + self._leeway_s, UTC)
