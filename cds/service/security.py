"""Client authentication: the CDS client's signed JWT on every protected call (CDS Hooks 2.0.1
"Trusting CDS Clients"), verified by `cds.security.jwt.JwtVerifier`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from cds.service.settings import Settings

log = logging.getLogger("cds.service")


class Verifier(Protocol):
    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]: ...


class Authenticator:
    """Verifies the Authorization header against the URL the client called (`aud`)."""

    def __init__(self, verifier: Verifier | None, public_base_url: str | None) -> None:
        self.verifier = verifier
        self.base = (public_base_url or "").rstrip("/")

    @property
    def enabled(self) -> bool:
        return self.verifier is not None

    async def check(self, authorization: str | None, path: str) -> bool:
        """True when the call may proceed. Never raises: any failure is a refusal (fail closed)."""
        if self.verifier is None:
            return True
        try:
            # JWKS may be fetched over the network inside verify(): keep it off the event loop.
            await run_in_threadpool(self.verifier.verify, authorization, f"{self.base}{path}")
        except Exception as exc:
            if type(exc).__name__ == "AuthError":
                # AuthError messages name at most the token's iss and kid (cds.security.jwt), never claims.
                log.warning("client authentication failed on %s: %s", path, exc)
            else:
                log.error("JWT verifier failed on %s: %s (request refused)", path, type(exc).__name__)
            return False
        return True


def build_verifier(settings: Settings, replay_cache: Any) -> Verifier:
    """The JWT verifier for the configured trusted issuers (auth on)."""
    from cds.security.jwt import JwtVerifier, load_trusted_issuers

    assert settings.trusted_issuers is not None  # Settings.check() guarantees it when auth is on
    verifier: Verifier = JwtVerifier(load_trusted_issuers(settings.trusted_issuers), replay_cache)
    return verifier
