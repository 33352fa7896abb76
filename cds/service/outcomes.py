"""Error bodies: FHIR OperationOutcome JSON with a specific, patient-data-free message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from starlette.responses import Response

# HTTP status → OperationOutcome issue code (FHIR R4 issue-type value set).
_ISSUE_CODE: dict[int, str] = {
    400: "invalid",
    404: "not-found",
    405: "not-supported",
    408: "timeout",
    412: "incomplete",
    413: "too-costly",
    415: "not-supported",
    500: "exception",
    503: "transient",
}


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def operation_outcome(status: int, messages: str | Sequence[str], *, code: str | None = None) -> Response:
    texts = [messages] if isinstance(messages, str) else list(messages)
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": code or _ISSUE_CODE.get(status, "processing"), "diagnostics": text}
            for text in texts
        ],
    }
    return Response(orjson.dumps(body), status_code=status, media_type="application/fhir+json")


def unauthorized() -> Response:
    # Bare 401: no hint of why the token failed (RFC 6750 challenge header only).
    return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
