"""Errors raised on unusable input. Each carries a one-line message naming where and why."""

from __future__ import annotations


class CdsError(Exception):
    """Base class for errors the user can act on (never a bug)."""


class InputError(CdsError):
    """FHIR input that cannot be used: the message names the entry, the field and the problem."""

    def __init__(self, message: str, *, location: str | None = None) -> None:
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class RuleFileError(CdsError):
    """A rule or settings file that does not load: the message names file and line."""

    def __init__(self, message: str, *, file: str, line: int | None = None) -> None:
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}")
