"""Log hygiene for the service: no request value can forge a log line, no URL with a patient id.

Every record of the loggers the service writes through gets its message rendered once and its
control characters (newline, carriage return, NUL, escape, C1, Unicode line separators) escaped,
so a newline in a URL path or a hookInstance shows as the text "\\n" on the same line. httpx's
per-request INFO line carries the fallback FHIR URL, which names the patient: it is silenced.
"""

from __future__ import annotations

import logging
import re

# The loggers the service, its JWT verifier, its audit store and uvicorn write through.
LOGGERS = (
    "cds.service",
    "cds.security.jwt",
    "cds.security.jwks",
    "cds.audit.replay",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "httpx",
    "httpcore",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control(text: str) -> str:
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text
    )


class EscapeControl(logging.Filter):
    """Renders the message with its arguments, escaped; the record then carries no arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = escape_control(message), None
        return True


_FILTER = EscapeControl()


def install() -> None:
    """Idempotent: add the filter to each service logger and to the root handlers; quiet httpx."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    # "HTTP Request: GET https://fhir.example/Condition?patient=Patient/123 ..." at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
