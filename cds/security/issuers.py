"""Trusted CDS clients: which issuers (``iss``) we accept and where each one's public keys live.

The allow-list is configuration, not data from the request: a token's own ``jku`` header is never
followed (that would let a caller choose the keys its signature is checked with).
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from cds import yamlio
from cds.errors import CdsError


class TrustConfigError(CdsError):
    """The trusted-issuers file or a pinned JWKS cannot be used; the message names the file and why."""


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base(url: str) -> str:
    """A FHIR base URL in one spelling: lower-case scheme and host, no default port, no trailing '/'."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    port = f":{parts.port}" if parts.port is not None and parts.port != default else ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"


def _fhir_base(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"fhir_servers: {url!r} is not an absolute http(s) URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"fhir_servers: {url!r} must be a base URL (no user info, query or fragment)")
    parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    return normalise_base(url)


class TrustedIssuer(BaseModel):
    """One CDS client we trust: its ``iss``, exactly one source of its JWK Set, and the FHIR servers
    its calls may name as ``fhirServer`` (none listed: the service fetches nothing for it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str
    jwks_file: Path | None = None
    jwks_url: str | None = None
    fhir_servers: tuple[str, ...] = ()

    @field_validator("fhir_servers")
    @classmethod
    def _bases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_fhir_base(u) for u in value)

    @model_validator(mode="after")
    def _one_source(self) -> TrustedIssuer:
        if not self.iss.strip():
            raise ValueError("iss must not be empty")
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError(f"issuer {self.iss!r}: give exactly one of jwks_file or jwks_url")
        if self.jwks_url is not None:
            parts = urlsplit(self.jwks_url)
            # Keys fetched over plain HTTP could be swapped in transit; allow it only on loopback
            # (a local test client), never across a network.
            if not (parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname))):
                raise ValueError(
                    f"issuer {self.iss!r}: jwks_url must be https (http only for localhost), "
                    f"got {self.jwks_url!r}"
                )
        return self


def load_trusted_issuers(path: Path) -> list[TrustedIssuer]:
    """Read a YAML or JSON list of ``{iss, jwks_file | jwks_url, fhir_servers}``.

    Relative ``jwks_file`` paths resolve against the folder of ``path`` (so the file and its pinned
    key sets can be moved together). Raises TrustConfigError naming the file and entry on any problem.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrustConfigError(f"{path}: cannot read trusted issuers file: {exc.strerror or exc}") from None
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else yamlio.load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise TrustConfigError(
            f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(data, list) or not data:
        raise TrustConfigError(f"{path}: expected a non-empty list of {{iss, jwks_file | jwks_url}} entries")

    issuers: list[TrustedIssuer] = []
    seen: set[str] = set()
    for index, entry in enumerate(data, start=1):
        where = f"{path}: entry {index}"
        if not isinstance(entry, dict):
            raise TrustConfigError(f"{where}: expected a mapping with iss and jwks_file or jwks_url")
        try:
            issuer = TrustedIssuer.model_validate(entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}" for err in exc.errors()
            )
            raise TrustConfigError(f"{where}: {problems}") from None
        if issuer.iss in seen:
            raise TrustConfigError(f"{where}: issuer {issuer.iss!r} is listed twice")
        seen.add(issuer.iss)
        if issuer.jwks_file is not None and not issuer.jwks_file.is_absolute():
            issuer = issuer.model_copy(update={"jwks_file": (path.parent / issuer.jwks_file).resolve()})
        issuers.append(issuer)
    return issuers
