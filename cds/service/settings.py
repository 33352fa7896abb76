"""Settings of the CDS Hooks service, read from environment variables (see README, "Deployment")."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cds.audit.db import default_database_url
from cds.errors import ConfigError
from cds.security.issuers import normalise_base

DEFAULT_MAX_BODY_BYTES = 10_000_000  # a Synthea-sized prefetch of a long record is a few MB
DEFAULT_FHIR_TIMEOUT_S = 4.0
DEFAULT_REPORT_TTL_HOURS = 24.0
DEFAULT_BODY_TIMEOUT_S = 30.0  # 10 MB at about 350 kB/s
DEFAULT_KEEP_ALIVE_S = 5
DEFAULT_FHIR_MAX_RESPONSE_BYTES = 20_000_000  # one FHIR response as sent (compressed or not)
DEFAULT_FHIR_MAX_DECODED_BYTES = 50_000_000  # the same response decompressed
# A CSP source list: keywords, schemes and origins only (no ';', which would start a new directive).
_SOURCE_LIST = re.compile(r"^[A-Za-z0-9'*:/.\- ]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SettingsError(ConfigError):
    """A setting that is missing or malformed: the message names the variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The same default as `cds audit` (a SQLite file in the user's data folder), so both find it.
    database_url: str = Field(default_factory=default_database_url)
    auth: bool = True
    # Discovery carries no patient data; a deployment may still demand a JWT on it.
    auth_discovery: bool = False
    trusted_issuers: Path | None = None
    public_base_url: str | None = Field(
        default=None, description="Externally visible base URL, e.g. https://cds.example.org (JWT aud)"
    )
    cors_origins: tuple[str, ...] = ()
    fhir_timeout_s: float = Field(default=DEFAULT_FHIR_TIMEOUT_S, gt=0, le=60)
    # Plain-http FHIR servers are refused unless allowed: the spec demands https for production data,
    # and the service sends the client's access token there.
    fhir_allow_http: bool = False
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    profile: Literal["us-fda", "eu-smpc"] = "us-fda"
    # How long a decision's HTML report stays readable at /reports/{id} (then 404, and deleted).
    report_ttl_hours: float = Field(default=DEFAULT_REPORT_TTL_HOURS, gt=0, le=24 * 366)
    # Pins the evaluation date (demos on fixed example records, replays); None means today.
    as_of: date | None = None
    # One id per hook by default (every client can call each); on: order-select and order-sign share
    # one id, so a client implementing "update stale guidance" replaces order-select cards.
    shared_order_id: bool = False
    # Slow clients: the whole body must arrive within this time (408); an idle keep-alive connection
    # is closed after keep_alive_s.
    body_timeout_s: float = Field(default=DEFAULT_BODY_TIMEOUT_S, gt=0, le=600)
    keep_alive_s: int = Field(default=DEFAULT_KEEP_ALIVE_S, gt=0, le=600)
    # With auth off only: the FHIR servers calls may name (normalised base URLs); None: any.
    # With auth on, each trusted issuer's `fhir_servers` list applies instead.
    fhir_servers: frozenset[str] | None = None
    fhir_max_response_bytes: int = Field(default=DEFAULT_FHIR_MAX_RESPONSE_BYTES, gt=0)
    fhir_max_decoded_bytes: int = Field(default=DEFAULT_FHIR_MAX_DECODED_BYTES, gt=0)
    # Which pages may show a decision report in a frame (CSP frame-ancestors); default none.
    report_frame_ancestors: str = Field(default="'none'", pattern=_SOURCE_LIST.pattern)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, key, read, blank_is_unset in _VARIABLES:
            if name in env and not (blank_is_unset and not env[name].strip()):
                values[key] = read(env, name)
        try:
            settings = cls.model_validate(values)
        except ValueError as exc:
            raise SettingsError(f"invalid service settings: {exc}") from None
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse a configuration that would silently run without client authentication."""
        if not self.auth:
            return
        if self.fhir_servers is not None:
            raise SettingsError(
                "CDS_FHIR_SERVERS applies with CDS_AUTH=off only; with auth on, list each issuer's "
                "fhir_servers in the trusted-issuers file"
            )
        if self.trusted_issuers is None:
            raise SettingsError(
                "CDS_AUTH is on but CDS_TRUSTED_ISSUERS (file of trusted JWT issuers) is not set"
            )
        if not self.public_base_url:
            raise SettingsError(
                "CDS_AUTH is on but CDS_PUBLIC_BASE_URL (needed for the JWT aud check) is not set"
            )
        if not self.public_base_url.startswith(("https://", "http://")):
            raise SettingsError("CDS_PUBLIC_BASE_URL must be an absolute http(s) URL")


def _float(env: Mapping[str, str], name: str) -> float:
    return float(_number(env, name, float))


def _int(env: Mapping[str, str], name: str) -> int:
    return int(_number(env, name, int))


def _stripped(env: Mapping[str, str], name: str) -> str:
    return env[name].strip()


def _base_url(env: Mapping[str, str], name: str) -> str:
    return env[name].strip().rstrip("/")


def _path(env: Mapping[str, str], name: str) -> Path:
    return Path(env[name].strip())


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in env[name].split(",") if o.strip())


def _non_empty(env: Mapping[str, str], name: str) -> str:
    value = env[name].strip()
    if not value:
        raise SettingsError(f"{name} is set but empty")
    return value


def _switch(env: Mapping[str, str], name: str) -> bool:
    value = env[name].strip().lower()
    if value in {"on", "true", "1", "yes"}:
        return True
    if value in {"off", "false", "0", "no"}:
        return False
    raise SettingsError(f"{name} must be 'on' or 'off', not {env[name]!r}")


def _date(env: Mapping[str, str], name: str) -> date:
    value = env[name].strip()
    try:
        if not _ISO_DATE.match(value):  # fromisoformat also takes 20250602 and week dates
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise SettingsError(f"{name} must be a date YYYY-MM-DD, not {env[name]!r}") from None


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(env[name])
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {env[name]!r}") from None


def _fhir_servers(env: Mapping[str, str], name: str) -> frozenset[str]:
    urls = [u.strip() for u in env[name].split(",") if u.strip()]
    for url in urls:
        if not url.startswith(("https://", "http://")):
            raise SettingsError(f"{name}: {url!r} is not an absolute http(s) URL")
    return frozenset(normalise_base(u) for u in urls)


# Variable, field, reader, and whether a blank value means "not set" (otherwise it is an error).
_VARIABLES: tuple[tuple[str, str, Callable[[Mapping[str, str], str], object], bool], ...] = (
    ("CDS_DATABASE_URL", "database_url", _non_empty, False),
    ("CDS_AUTH", "auth", _switch, False),
    ("CDS_AUTH_DISCOVERY", "auth_discovery", _switch, False),
    ("CDS_TRUSTED_ISSUERS", "trusted_issuers", _path, True),
    ("CDS_PUBLIC_BASE_URL", "public_base_url", _base_url, True),
    ("CDS_CORS_ORIGINS", "cors_origins", _origins, True),
    ("CDS_FHIR_TIMEOUT_S", "fhir_timeout_s", _float, False),
    ("CDS_FHIR_ALLOW_HTTP", "fhir_allow_http", _switch, False),
    ("CDS_FHIR_SERVERS", "fhir_servers", _fhir_servers, True),
    ("CDS_FHIR_MAX_RESPONSE_BYTES", "fhir_max_response_bytes", _int, False),
    ("CDS_FHIR_MAX_DECODED_BYTES", "fhir_max_decoded_bytes", _int, False),
    ("CDS_MAX_BODY_BYTES", "max_body_bytes", _int, False),
    ("CDS_BODY_TIMEOUT_S", "body_timeout_s", _float, False),
    ("CDS_KEEP_ALIVE_S", "keep_alive_s", _int, False),
    ("CDS_PROFILE", "profile", _stripped, False),
    ("CDS_REPORT_TTL_HOURS", "report_ttl_hours", _float, False),
    ("CDS_REPORT_FRAME_ANCESTORS", "report_frame_ancestors", _stripped, True),
    ("CDS_AS_OF", "as_of", _date, True),
    ("CDS_SHARED_ORDER_ID", "shared_order_id", _switch, False),
)
