"""HTTP routes: discovery, hook calls, feedback, decision reports, liveness and readiness.

Authentication, the Content-Type and the body's size and arrival time are checked before any
route runs (`cds.service.guard`). Bodies are parsed here (not by FastAPI's body binding) so that
the service id is checked first (404), then the body (400), and so that every validation error is
a 400 with a specific message rather than FastAPI's 422.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from cds.audit.db import AuditError
from cds.audit.records import AuditSink, FeedbackRecord, HookCallRecord, IssuedCard
from cds.errors import AuthError, InputError, ServiceUnavailable, http_status
from cds.service.cards import BuiltCard
from cds.service.catalog import Service, describe
from cds.service.guard import Authenticator, Client
from cds.service.hooks import Engine, HookOutcome, HookRunner, parse_context, validation_messages
from cds.service.models import BadRequest, CdsResponse, Discovery, FeedbackRequest, HookRequest
from cds.service.outcomes import json_response, operation_outcome, unauthorized
from cds.service.prefetch import DataUnavailable, FetchPolicy
from cds.service.reports import (
    is_report_id,
    render_stored,
    report_not_found,
    report_page,
    report_unavailable,
    stored_report,
    with_report_link,
)
from cds.service.settings import Settings

log = logging.getLogger("cds.service")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid request (OperationOutcome names the field and the problem)"},
    401: {"description": "Missing or invalid client JWT (empty body)"},
    404: {"description": "Unknown service id or card uuid (OperationOutcome)"},
    408: {"description": "Request body not received in time (OperationOutcome)"},
    413: {"description": "Request body over the size limit (OperationOutcome)"},
    415: {"description": "Content-Type is not JSON (OperationOutcome)"},
    503: {"description": "Audit store unavailable: no advice issued (OperationOutcome)"},
}


def _body_schema(model: str) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}
    return {"requestBody": {"required": True, "content": content}}


@dataclass(frozen=True)
class Deps:
    settings: Settings
    engine: Engine
    audit: AuditSink
    auth: Authenticator
    runner: HookRunner
    services: dict[str, Service]


def _parse(raw: bytes, model: type[HookRequest] | type[FeedbackRequest]) -> Any:
    try:
        return model.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise BadRequest(["request body is not valid JSON"]) from None
    except ValidationError as exc:
        raise BadRequest(validation_messages(exc)) from None


def _hook_request(raw: bytes, service: Service) -> HookRequest:
    hook_request: HookRequest = _parse(raw, HookRequest)
    if hook_request.hook not in service.hooks:
        raise BadRequest(
            [
                f"service '{service.id}' does not answer hook '{hook_request.hook}' "
                f"(it answers {', '.join(service.hooks)})"
            ]
        )
    return hook_request


def _policy(settings: Settings, request: Request) -> FetchPolicy:
    client: Client | None = request.state.client
    return FetchPolicy(
        timeout_s=settings.fhir_timeout_s,
        allow_http=settings.fhir_allow_http,
        fhir_servers=client.fhir_servers if client is not None else frozenset(),
        max_response_bytes=settings.fhir_max_response_bytes,
        max_decoded_bytes=settings.fhir_max_decoded_bytes,
    )


def _failure(exc: Exception, call: HookCallRecord) -> Response:
    """The answer to a call that produced no advice; the status from the one table (cds.errors)."""
    status = http_status(exc)
    if isinstance(exc, BadRequest):
        return operation_outcome(status, exc.messages)
    if isinstance(exc, DataUnavailable):
        reasons = [f"{q.key} ({q.what}): {reason}" for q, reason in exc.missing]
        return operation_outcome(status, reasons, code="incomplete")
    if isinstance(exc, InputError | ServiceUnavailable):
        return operation_outcome(status, str(exc))
    # The message may quote patient data: log the type only, answer without a traceback.
    log.error("hook call %s on %s failed: %s", call.hook_instance, call.service_id, type(exc).__name__)
    return operation_outcome(500, "internal error; no advice was produced")


def _feedback_records(body: FeedbackRequest, service_id: str) -> list[FeedbackRecord]:
    received = datetime.now(UTC)
    return [
        FeedbackRecord(
            service_id=service_id,
            card_uuid=item.card,
            outcome=item.outcome,
            accepted_suggestions=[s.id for s in item.acceptedSuggestions or ()],
            override_reason=item.overrideReason.model_dump(mode="json", exclude_none=True)
            if item.overrideReason
            else None,
            outcome_timestamp=item.outcomeTimestamp,
            received_at=received,
        )
        for item in body.feedback
    ]


async def _not_issued_by(audit: AuditSink, records: list[FeedbackRecord], service_id: str) -> str | None:
    """The first card this service did not issue: all must be known before anything is stored
    (no half-applied batch)."""
    for rec in records:
        if await run_in_threadpool(audit.card_service, rec.card_uuid) != service_id:
            return rec.card_uuid
    return None


def issued_cards(built: list[BuiltCard]) -> list[IssuedCard]:
    """What the audit record keeps of each card sent."""
    return [
        IssuedCard(
            uuid=c.card.uuid, rule_ids=list(c.rule_ids), indicator=c.card.indicator, summary=c.card.summary
        )
        for c in built
    ]


class _Calls:
    """The hook-call route's steps: answer the call, then record it (no advice off the record)."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def answer(
        self, hook_request: HookRequest, call: HookCallRecord, request: Request, started: float
    ) -> Response:
        try:
            context = parse_context(hook_request)
            call = call.model_copy(update={"patient_ref": f"Patient/{context.patientId}"})
            issue = partial(self._issue, call=call, base_url=self._public_base(request), started=started)
            admit = partial(self.deps.auth.check_unspent, call.token)
            return await self.deps.runner.run(
                hook_request, context, _policy(self.deps.settings, request), issue, admit
            )
        except AuthError as exc:
            # A replayed token (its use is on record already, so there is nothing to record).
            log.warning("client authentication failed on hook call: %s", exc)
            return unauthorized()
        except Exception as exc:
            # Any failure before the audit write (`record` handles its own): recorded as failed,
            # with the token's use, so no failed call leaves a token usable again.
            response = _failure(exc, call)
            version = await self._ruleset_version_or_unknown()
            failed = call.model_copy(update={"status_code": response.status_code, "ruleset_version": version})
            return await self.deps.runner.queue.run(partial(self.record, response, failed, started))

    def _issue(self, outcome: HookOutcome, call: HookCallRecord, base_url: str, started: float) -> Response:
        built, report = outcome.cards, None
        if built and outcome.evaluation is not None:
            # Stored with the call record (one transaction), so it exists only if the call does.
            report = stored_report(
                outcome.evaluation, now=datetime.now(UTC), ttl_hours=self.deps.settings.report_ttl_hours
            )
            if report is not None:
                built = with_report_link(built, base_url, report.report_id)
        update = {
            "status_code": 200,
            "ruleset_version": outcome.ruleset_version,
            "cards": issued_cards(built),
            "report": report,
        }
        response = json_response({"cards": [c.card.to_json() for c in built]})
        return self.record(response, call.model_copy(update=update), started)

    def record(self, response: Response, call: HookCallRecord, started: float) -> Response:
        """Write the call's audit record (in a worker thread); the response only if it is durable."""
        call = call.model_copy(update={"latency_ms": int((time.monotonic() - started) * 1000)})
        try:
            self.deps.audit.record_hook_call(call)
        except AuthError as exc:
            # The token was used already (recorded with the call, in one transaction): nothing written.
            log.warning("client authentication failed on hook call: %s", exc)
            return unauthorized()
        except Exception as exc:
            log.error("audit write failed for hook call %s: %s", call.hook_instance, type(exc).__name__)
            self._spend_alone(call)
            if call.status_code == 200:
                # Advice that is not on the audit record is not issued.
                return operation_outcome(503, "audit store unavailable; no advice was issued")
        log.info(
            "hook call %s service=%s hook=%s status=%d cards=%d latency_ms=%d",
            call.hook_instance,
            call.service_id,
            call.hook,
            call.status_code,
            len(call.cards),
            call.latency_ms,
        )
        return response

    def _spend_alone(self, call: HookCallRecord) -> None:
        """The audit write (which carried the token's use) failed: record the use on its own, so the
        token cannot be replayed for advice; best effort, as the database may be down."""
        try:
            self.deps.auth.spend(call.token)
        except Exception as exc:
            log.error("token use not recorded for hook call %s: %s", call.hook_instance, type(exc).__name__)

    async def refuse(self, client: Client | None, response: Response) -> Response:
        """A call refused before it has an audit record: its token's use is recorded on its own."""
        try:
            fresh = await run_in_threadpool(self.deps.auth.spend, client.token if client else None)
        except AuditError as exc:
            log.error("replay cache unavailable on a refused hook call: %s", type(exc).__name__)
            return operation_outcome(503, "audit store unavailable; the request was not processed")
        if not fresh:
            log.warning("client authentication failed on hook call: jti already used (replay)")
            return unauthorized()
        return response

    def _public_base(self, request: Request) -> str:
        """Where clients reach this service: the configured URL, else (auth off, local use) the request's."""
        return self.deps.settings.public_base_url or str(request.base_url).rstrip("/")

    async def _ruleset_version_or_unknown(self) -> str:
        """For the audit record of a failed call: the version in force, if the ruleset loads at all."""
        try:
            return await run_in_threadpool(self.deps.engine.ruleset_version)
        except Exception:
            return "unknown"


def build_router(deps: Deps) -> APIRouter:
    router = APIRouter(redirect_slashes=False)
    calls = _Calls(deps)

    @router.get("/cds-services", response_model=Discovery, tags=["CDS Hooks"], summary="Discovery")
    async def discovery() -> Response:
        version = await run_in_threadpool(deps.engine.ruleset_version)
        services = describe(deps.services, version, deps.settings.profile)
        return json_response(Discovery(services=services).to_json())

    @router.post(
        "/cds-services/{service_id}",
        response_model=CdsResponse,
        tags=["CDS Hooks"],
        summary="Call a CDS service (patient-view, order-select, order-sign)",
        responses={**_ERRORS, 412: {"description": "Required FHIR data could not be had (OperationOutcome)"}},
        openapi_extra=_body_schema("HookRequest"),
    )
    async def call_service(service_id: str, request: Request) -> Response:
        started = time.monotonic()
        client: Client | None = request.state.client
        service = deps.services.get(service_id)
        if service is None:
            return await calls.refuse(
                client, operation_outcome(404, f"no CDS service with id '{service_id}'")
            )
        try:
            hook_request = _hook_request(await request.body(), service)
        except BadRequest as exc:
            return await calls.refuse(client, operation_outcome(400, exc.messages))
        call = HookCallRecord(
            hook_instance=hook_request.hookInstance,
            service_id=service.id,
            hook=hook_request.hook,
            at=datetime.now(UTC),
            ruleset_version="unknown",
            patient_ref=None,
            latency_ms=0,
            status_code=500,
            token=client.token if client is not None else None,
        )
        return await calls.answer(hook_request, call, request, started)

    @router.post(
        "/cds-services/{service_id}/feedback",
        tags=["CDS Hooks"],
        summary="Feedback on cards (accepted / overridden)",
        responses={200: {"description": "Feedback stored (empty body)"}, **_ERRORS},
        openapi_extra=_body_schema("FeedbackRequest"),
    )
    async def feedback(service_id: str, request: Request) -> Response:
        if service_id not in deps.services:
            return operation_outcome(404, f"no CDS service with id '{service_id}'")
        try:
            body: FeedbackRequest = _parse(await request.body(), FeedbackRequest)
        except BadRequest as exc:
            return operation_outcome(400, exc.messages)
        records = _feedback_records(body, service_id)
        try:
            unknown = await _not_issued_by(deps.audit, records, service_id)
            if unknown is not None:
                return operation_outcome(404, f"card '{unknown}' was not issued by service '{service_id}'")
            for rec in records:
                await run_in_threadpool(deps.audit.record_feedback, rec)
        except Exception as exc:
            log.error("audit store failed for feedback on %s: %s", service_id, type(exc).__name__)
            return operation_outcome(503, "audit store unavailable; feedback not stored")
        log.info("feedback service=%s items=%d", service_id, len(records))
        return Response(status_code=200)

    @router.get(
        "/reports/{report_id}",
        tags=["Reports"],
        summary="The HTML report of one decision (the unguessable id is the credential)",
        response_class=Response,
        responses={
            200: {"description": "The report page", "content": {"text/html": {}}},
            404: {"description": "Unknown or expired report", "content": {"text/html": {}}},
        },
    )
    async def get_report(report_id: str) -> Response:
        # No client JWT here: a browser opens the link from the EHR. Never log the id (a credential).
        frames = deps.settings.report_frame_ancestors
        if not is_report_id(report_id):
            return report_not_found(frames)
        try:
            content = await run_in_threadpool(deps.audit.get_report, report_id, datetime.now(UTC))
        except Exception as exc:
            log.error("report look-up failed: %s", type(exc).__name__)
            return operation_outcome(503, "audit store unavailable")
        if content is None:
            log.info("report fetch status=404")
            return report_not_found(frames)
        try:
            html = await run_in_threadpool(render_stored, content)
        except Exception as exc:
            # The message may quote patient data: the type only.
            log.error("report rendering failed: %s", type(exc).__name__)
            return report_unavailable(frames)
        log.info("report fetch status=200")
        return report_page(html, frames)

    @router.get("/health", tags=["Operations"], summary="Liveness and ruleset version")
    async def health() -> Response:
        try:
            version = await run_in_threadpool(deps.engine.ruleset_version)
        except Exception as exc:
            log.error("health check: ruleset unavailable: %s", type(exc).__name__)
            return json_response({"status": "unavailable"}, status=503)
        body: dict[str, Any] = {"status": "ok", "ruleset": version, "auth": deps.auth.enabled}
        if deps.settings.as_of is not None:
            body["asOf"] = deps.settings.as_of.isoformat()  # a pinned date must be visible to operators
        return json_response(body)

    @router.get("/ready", tags=["Operations"], summary="Readiness: the ruleset and the audit database")
    async def ready() -> Response:
        checks: dict[str, str] = {}
        for name, probe in (("ruleset", deps.engine.ruleset_version), ("database", deps.audit.ping)):
            try:
                await run_in_threadpool(probe)
                checks[name] = "ok"
            except Exception as exc:
                log.error("readiness: %s unavailable: %s", name, type(exc).__name__)
                checks[name] = "unavailable"
        ok = all(v == "ok" for v in checks.values())
        return json_response(
            {"status": "ready" if ok else "unavailable", **checks}, status=200 if ok else 503
        )

    return router
