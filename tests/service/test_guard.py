"""What a request must pass before a route reads it (issue 11, items 5, 8 and 10): authentication
from the headers alone, a JSON Content-Type, a capped body that arrives in time; the audit store
down is 503, not 401; readiness reports the database; no redirect is built from Host."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from cds.audit.db import AuditError
from cds.service.catalog import PATIENT_VIEW_SERVICE
from cds.service.guard import UNAUTHENTICATED_MAX_BODY_BYTES

from .builders import GOOD_TOKEN, patient_view_request
from .fakes import Harness, service_settings

Message = dict[str, Any]


def run(coro: Awaitable[Any]) -> Any:
    # A thread of its own, as in fakes.AppClient (another test's event loop may be running).
    async def wrapped() -> Any:
        return await coro

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wrapped()).result(timeout=30)


def asgi_call(
    app: Any, method: str, path: str, headers: dict[str, str], receive: Callable[[], Awaitable[Message]]
) -> list[Message]:
    """Drive the ASGI app directly: the test sees exactly when the body is read."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    run(app(scope, receive, send))
    return sent


def status_of(sent: list[Message]) -> int:
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


class CountingBody:
    """A client that announces a large body and sends it in chunks; counts what the server read."""

    def __init__(self, chunks: int, size: int = 64 * 1024, delay_s: float = 0.0) -> None:
        self.chunks, self.size, self.delay_s, self.read = chunks, size, delay_s, 0

    async def __call__(self) -> Message:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.read += 1
        more = self.read < self.chunks
        return {"type": "http.request", "body": b" " * self.size, "more_body": more}


# --- item 5: authenticate before reading the body ---------------------------------------------------


@pytest.mark.parametrize("authorization", ["", "Bearer forged"])
def test_an_unauthenticated_hook_call_is_refused_before_its_body_is_read(authorization: str) -> None:
    harness = Harness()
    body = CountingBody(chunks=160)  # 10 MB announced
    headers = {"content-type": "application/json", "content-length": str(160 * 64 * 1024)}
    if authorization:
        headers["authorization"] = authorization
    sent = asgi_call(harness.app, "POST", f"/cds-services/{PATIENT_VIEW_SERVICE}", headers, body)
    assert status_of(sent) == 401
    assert body.read == 0


def test_an_unauthenticated_request_may_send_only_a_small_body() -> None:
    """Discovery, reports and health need no body: an unauthenticated client cannot make the
    service buffer megabytes, whatever it announces or streams without announcing."""
    harness = Harness()
    announced = CountingBody(chunks=16)
    headers = {"content-length": str(16 * 64 * 1024)}
    assert status_of(asgi_call(harness.app, "GET", "/health", headers, announced)) == 413
    assert announced.read == 0
    chunked = CountingBody(chunks=1000, size=4096)
    assert status_of(asgi_call(harness.app, "GET", "/cds-services", {}, chunked)) == 413
    assert chunked.read * 4096 <= UNAUTHENTICATED_MAX_BODY_BYTES + 4096


def test_an_authenticated_call_may_send_up_to_the_configured_cap() -> None:
    harness = Harness(settings=service_settings(max_body_bytes=1000))
    big = {**patient_view_request(), "padding": "x" * 2000}
    assert harness.call(PATIENT_VIEW_SERVICE, big).status_code == 413
    roomy = Harness(settings=service_settings(max_body_bytes=100_000))
    assert roomy.call(PATIENT_VIEW_SERVICE, patient_view_request()).status_code == 200


def test_a_slow_body_is_cut_off_with_408() -> None:
    harness = Harness(settings=service_settings(body_timeout_s=0.3))
    slow = CountingBody(chunks=100, size=10, delay_s=0.1)  # 10 s to send it all
    headers = {"authorization": GOOD_TOKEN, "content-type": "application/json"}
    sent = asgi_call(harness.app, "POST", f"/cds-services/{PATIENT_VIEW_SERVICE}", headers, slow)
    assert status_of(sent) == 408
    assert slow.read < 10
    assert harness.engine.calls == []


# --- item 10: Content-Type, redirects --------------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_hook_call_that_is_not_json_is_415(content_type: str | None) -> None:
    harness = Harness()
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = harness.client.post(
        f"/cds-services/{PATIENT_VIEW_SERVICE}", content=orjson.dumps(patient_view_request()), headers=headers
    )
    assert response.status_code == 415
    assert "Content-Type must be application/json" in response.text
    assert harness.engine.calls == []


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/fhir+json"])
def test_json_content_types_are_accepted(content_type: str) -> None:
    harness = Harness()
    response = harness.client.post(
        f"/cds-services/{PATIENT_VIEW_SERVICE}",
        content=orjson.dumps(patient_view_request()),
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200


def test_no_redirect_is_built_from_the_host_header() -> None:
    harness = Harness()
    for path in ("/cds-services/", "/health/", "/docs/"):
        response = harness.client.get(path, headers={"Host": "evil.example"})
        assert response.status_code not in range(300, 400), path
        assert "evil.example" not in response.headers.get("location", "")


# --- item 8: audit store down ----------------------------------------------------------------------


class ReplayStoreDown:
    """A verifier whose replay cache (the audit database) cannot be written, as cds.security.jwt's."""

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        raise AuditError("replay cache unavailable: OperationalError")


def test_audit_store_down_during_authentication_is_503_not_401() -> None:
    down = Harness()
    down.verifier.verify = ReplayStoreDown().verify  # type: ignore[method-assign]
    response = down.call(PATIENT_VIEW_SERVICE, patient_view_request())
    assert response.status_code == 503
    assert response.json()["issue"][0]["code"] == "transient"
    assert down.engine.calls == []


def test_readiness_reports_the_database_and_liveness_stays_up() -> None:
    harness = Harness()
    ready = harness.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "ruleset": "ok", "database": "ok"}
    harness.audit.fail = True
    ready = harness.client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["database"] == "unavailable"
    assert harness.client.get("/health").status_code == 200  # alive: do not restart it for this
