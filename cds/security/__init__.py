"""Authentication of CDS Hooks clients (signed JWT bearer tokens).

JwtVerifier(issuers, replay).verify(authorization_header, audience_url) -> claims | AuthError
"""

from cds.security.issuers import TrustConfigError, TrustedIssuer, load_trusted_issuers
from cds.security.jwt import AuthError, JwtVerifier
from cds.security.replay import MemoryReplayCache, ReplayCache

__all__ = [
    "AuthError",
    "JwtVerifier",
    "MemoryReplayCache",
    "ReplayCache",
    "TrustConfigError",
    "TrustedIssuer",
    "load_trusted_issuers",
]
