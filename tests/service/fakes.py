"""Stand-ins for the engine, the audit store and the JWT verifier, and the app harness."""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from cds.audit.records import FeedbackRecord, HookCallRecord, ReportRecord
from cds.contract.assessment import Assessment
from cds.contract.timeline import Timeline
from cds.security.jwt import AuthError
from cds.security.replay import TokenUse
from cds.service.app import create_app
from cds.service.settings import Settings

from .builders import BASE_URL, FHIR_BASE, GOOD_TOKEN, RULESET, make_assessment

ISSUER = "https://ehr.test"

# --- fakes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeEvaluation:
    assessment: Assessment
    timeline: Timeline


def empty_timeline(assessment: Assessment) -> Timeline:
    return Timeline(
        as_of=assessment.as_of,
        episodes=[],
        trials=[],
        adjuncts=[],
        blood_pressure=[],
        phq9=[],
        weight_kg=[],
        windows=[],
    )


class FakeEngine:
    def __init__(self, assessment: Assessment | None = None) -> None:
        self.assessment = assessment or make_assessment()
        self.calls: list[list[dict[str, Any]]] = []
        self.error: Exception | None = None

    def evaluate(self, resources: list[dict[str, Any]], *, profile: str) -> FakeEvaluation:
        self.calls.append(resources)
        if self.error is not None:
            raise self.error
        return FakeEvaluation(self.assessment, empty_timeline(self.assessment))

    def ruleset_version(self) -> str:
        return RULESET


class FakeAudit:
    def __init__(self) -> None:
        self.calls: list[HookCallRecord] = []
        self.feedback: list[FeedbackRecord] = []
        self.fail = False

    def ping(self) -> None:
        if self.fail:
            raise RuntimeError("database down")

    @property
    def reports(self) -> dict[str, ReportRecord]:
        return {c.report.report_id: c.report for c in self.calls if c.report is not None}

    def get_report(self, report_id: str, now: datetime) -> str | None:
        report = self.reports.get(report_id)
        return report.content if report is not None and report.expires_at > now else None

    def record_hook_call(self, call: HookCallRecord) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.calls.append(call)

    def card_service(self, uuid: str) -> str | None:
        for call in self.calls:
            if any(c.uuid == uuid for c in call.cards):
                return call.service_id
        return None

    def record_feedback(self, feedback: FeedbackRecord) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.feedback.append(feedback)


class FakeVerifier:
    def __init__(self) -> None:
        self.audiences: list[str] = []

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        self.audiences.append(audience)
        if authorization != GOOD_TOKEN:
            raise AuthError("bad token")
        return {"iss": ISSUER}

    def verify_signed(
        self, authorization: str | None, audience: str, *, network: bool = True
    ) -> tuple[dict[str, Any], TokenUse]:
        claims = self.verify(authorization, audience)
        return claims, TokenUse(ISSUER, "jti", datetime.now(UTC))

    def check_unspent(self, use: TokenUse) -> None:
        pass

    def spend(self, use: TokenUse) -> bool:
        return True


def service_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "auth": True,
        "trusted_issuers": Path("/nonexistent/issuers.yaml"),
        "public_base_url": BASE_URL,
        "database_url": "sqlite://",
    }
    values.update(overrides)
    return Settings(**values)


class AppClient:
    """In-process HTTP client for the ASGI app (httpx's ASGITransport), synchronous for tests.

    Starlette's TestClient warns (an error under this project's filterwarnings) unless the new
    `httpx2` package is installed; httpx's own ASGI transport needs nothing more.
    """

    def __init__(self, app: Any, headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.headers = headers or {}

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers=self.headers
            ) as client:
                return await client.request(method, url, **kwargs)

        # A thread of its own: another test's library (Playwright's sync API) may leave an event
        # loop running in the main thread, where asyncio.run() refuses to start.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, send()).result(timeout=60)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("OPTIONS", url, **kwargs)


class Harness:
    def __init__(
        self,
        *,
        settings: Settings | None = None,
        engine: FakeEngine | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        fhir_servers: frozenset[str] = frozenset({FHIR_BASE}),
    ) -> None:
        self.engine = engine or FakeEngine()
        self.audit = FakeAudit()
        self.verifier = FakeVerifier()
        self.app = create_app(
            settings or service_settings(),
            engine=self.engine,
            audit=self.audit,
            verifier=self.verifier,
            issuer_fhir_servers={ISSUER: fhir_servers},
            fhir_transport=transport,
        )
        self.client = AppClient(self.app, headers={"Authorization": GOOD_TOKEN})

    def call(self, service: str, body: Any, **kw: Any) -> httpx.Response:
        return self.client.post(f"/cds-services/{service}", json=body, **kw)
