"""The one exception tree. Every error a user can act on is a `CdsError` with a one-line message
naming where and why; anything else escaping is a bug. `http_status` is the one table from an
exception to the HTTP status the service answers with.

    CdsError
    ├── InputError            400  FHIR input or a request that cannot be used
    ├── AuthError             401  a client that is not authenticated
    ├── DataUnavailable       412  patient data the service needs and cannot have
    ├── ServiceUnavailable    503  a store the service depends on is down
    ├── ConfigError                a deployment setting or trust file that does not load
    ├── KnowledgeError             rules, settings, tables or value sets that do not load
    │   └── RuleFileError          ... located by file and line
    │       ├── RulesetError       ... all the problems of a rule folder
    │       └── UnsafeRuleError    ... a compiled rule of a shape durable-rules mishandles
    └── EngineError                the rules engine failed on an evaluation
"""

from __future__ import annotations


class CdsError(Exception):
    """Base class for errors the user can act on (never a bug)."""


class InputError(CdsError):
    """FHIR input that cannot be used: the message names the entry, the field and the problem."""

    def __init__(self, message: str, *, location: str | None = None) -> None:
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class AuthError(CdsError):
    """A caller that did not authenticate (the reason is logged, never sent)."""


class DataUnavailable(CdsError):
    """Patient data that is needed and can be neither read from the request nor fetched."""


class ServiceUnavailable(CdsError):
    """A backing store (audit database, replay cache) is down: retry later."""


class ConfigError(CdsError):
    """A deployment setting or configuration file that cannot be used."""


class KnowledgeError(CdsError):
    """Knowledge files (rules, settings, tables, value sets) that cannot be used."""


class RuleFileError(KnowledgeError):
    """A rule or settings file that does not load: the message names file and line."""

    def __init__(self, message: str, *, file: str, line: int | None = None) -> None:
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}")


class EngineError(CdsError):
    """The rules engine failed on one evaluation (a rule action raised, or an unexpected shape)."""


_HTTP_STATUS: dict[type[CdsError], int] = {
    InputError: 400,
    AuthError: 401,
    DataUnavailable: 412,
    ServiceUnavailable: 503,
}


def http_status(exc: BaseException) -> int:
    """The HTTP status for an exception: the nearest class in the table, else 500."""
    for cls in type(exc).__mro__:
        if cls in _HTTP_STATUS:
            return _HTTP_STATUS[cls]
    return 500
