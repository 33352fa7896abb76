"""What a request must pass before any route reads it, in this order:

1. client authentication, from the headers alone: an unauthenticated caller's body is never read;
2. on a CDS Hooks POST, a JSON Content-Type (415 otherwise);
3. a body no larger than the cap (413) that arrives within the time limit (408). The cap is
   `max_body_bytes` for an authenticated call (or any call with auth off, local testing) and
   `UNAUTHENTICATED_MAX_BODY_BYTES` for every other request (discovery, reports, health: no body).

The authenticated client (its issuer and the FHIR servers it may name) goes to the route in
`scope["state"]["client"]`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds.audit.db import AuditError
from cds.security.jwks import KeysNotAtHand
from cds.security.jwt import AuthError
from cds.security.replay import TokenUse
from cds.service.outcomes import operation_outcome, unauthorized

log = logging.getLogger("cds.service")

UNAUTHENTICATED_MAX_BODY_BYTES = 16 * 1024
_JSON_TYPES = {"application/json", "application/fhir+json"}


@dataclass(frozen=True)
class Client:
    """Who is calling: the JWT issuer (None with auth off) and the FHIR servers its calls may name
    (normalised base URLs; None: any, only with auth off and no CDS_FHIR_SERVERS)."""

    iss: str | None
    fhir_servers: frozenset[str] | None
    # A hook call's token whose use the call's audit record will record (see Authenticator).
    token: TokenUse | None = None


class Verifier(Protocol):
    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]: ...

    def verify_signed(
        self, authorization: str | None, audience: str, *, network: bool = True
    ) -> tuple[dict[str, Any], TokenUse]: ...

    def check_unspent(self, use: TokenUse) -> None: ...

    def spend(self, use: TokenUse) -> bool: ...


@dataclass(frozen=True)
class Authenticator:
    """Verifies the Authorization header against the URL the client called (`aud`).

    `defer_replay`: a hook call's token use is not recorded at verification but by the call's audit
    write, in the same transaction (one commit per call instead of two); only when the replay cache
    lives in the audit database (the service as deployed). Such a token is verified on the event
    loop when its issuer's keys are at hand (no fetch): a hand-off to a worker thread and back cost
    about as much as the verification itself. Its replay check (a database read) is the call's,
    `check_unspent`, at the start of its turn in the CPU queue, before the assessment."""

    verifier: Verifier | None  # None: auth off
    public_base_url: str | None
    fhir_servers: dict[str, frozenset[str]]  # per trusted issuer
    open_fhir_servers: frozenset[str] | None = None  # auth off: CDS_FHIR_SERVERS, None for any
    defer_replay: bool = False

    @property
    def enabled(self) -> bool:
        return self.verifier is not None

    async def check(self, authorization: str | None, path: str) -> Client | Response:
        """The client, or the response refusing it: 401 for a bad token, 503 when the replay cache
        (the audit database) cannot be used, 500 for a verifier fault. Fails closed, never raises."""
        if self.verifier is None:
            return Client(None, self.open_fhir_servers)
        audience = f"{(self.public_base_url or '').rstrip('/')}{path}"
        token: TokenUse | None = None
        try:
            # A JWKS may have to be fetched over the network: never on the event loop.
            if self.defer_replay and is_hook_call(path):
                try:
                    claims, token = self.verifier.verify_signed(authorization, audience, network=False)
                except KeysNotAtHand:
                    claims, token = await run_in_threadpool(
                        self.verifier.verify_signed, authorization, audience
                    )
            else:
                claims = await run_in_threadpool(self.verifier.verify, authorization, audience)
        except AuthError as exc:
            # AuthError messages name at most the token's iss and kid (cds.security.jwt), never claims.
            log.warning("client authentication failed on %s: %s", path, exc)
            return unauthorized()
        except AuditError as exc:
            log.error("client authentication impossible on %s: %s", path, type(exc).__name__)
            return operation_outcome(503, "audit store unavailable; the request was not processed")
        except Exception as exc:
            log.error("JWT verifier failed on %s: %s (request refused)", path, type(exc).__name__)
            return operation_outcome(500, "internal error; the request was not processed")
        iss = str(claims.get("iss"))
        return Client(iss, self.fhir_servers.get(iss, frozenset()), token)

    def check_unspent(self, token: TokenUse | None) -> None:
        """AuthError if a hook call's token was used already (a replay), AuditError if the replay
        cache cannot be read. A database read: run it in a worker thread."""
        if token is not None and self.verifier is not None:
            self.verifier.check_unspent(token)

    def spend(self, token: TokenUse | None) -> bool:
        """Record the use of a hook call's token that no audit record carries (the call was refused
        before one was made, or its audit write failed); False if it was used already. Runs in a
        worker thread."""
        if token is None or self.verifier is None:
            return True
        return self.verifier.spend(token)


def is_hook_call(path: str) -> bool:
    """POST /cds-services/{id} (not its /feedback)."""
    parts = path.strip("/").split("/")
    return len(parts) == 2 and parts[0] == "cds-services"


def needs_client(method: str, path: str, *, auth_discovery: bool) -> bool:
    """Hook calls and feedback always need an authenticated client; discovery when configured."""
    if method == "POST":
        return path.startswith("/cds-services/")
    return auth_discovery and method == "GET" and path.rstrip("/") == "/cds-services"


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        auth: Authenticator,
        auth_discovery: bool,
        max_body_bytes: int,
        body_timeout_s: float,
    ) -> None:
        self.app = app
        self.auth = auth
        self.auth_discovery = auth_discovery
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = Headers(scope=scope)
        client: Client | None = None
        if needs_client(method, path, auth_discovery=self.auth_discovery):
            checked = await self.auth.check(headers.get("authorization"), path)
            if isinstance(checked, Response):
                await checked(scope, receive, send)
                return
            client = checked
        scope.setdefault("state", {})["client"] = client
        refusal = self._refuse_headers(method, path, headers, client)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        limit = self.max_body_bytes if client is not None else UNAUTHENTICATED_MAX_BODY_BYTES
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body = await _read_body(receive, limit)
        except _Disconnected:
            return
        except TimeoutError:
            log.warning("request body on %s not received within %g s", path, self.body_timeout_s)
            response: Response = operation_outcome(
                408, f"request body not received within {self.body_timeout_s:g} s"
            )
            await response(scope, receive, send)
            return
        if body is None:
            await _too_big(limit)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _refuse_headers(
        self, method: str, path: str, headers: Headers, client: Client | None
    ) -> Response | None:
        if method == "POST" and path.startswith("/cds-services/"):
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media not in _JSON_TYPES:
                return operation_outcome(415, "Content-Type must be application/json")
        limit = self.max_body_bytes if client is not None else UNAUTHENTICATED_MAX_BODY_BYTES
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _too_big(limit)
        return None


class _Disconnected(Exception):
    pass


def _too_big(limit: int) -> Response:
    return operation_outcome(413, f"request body exceeds the limit of {limit} bytes")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` (a chunked upload is counted too)."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)
