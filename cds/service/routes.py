"""HTTP routes: discovery, hook calls, feedback, decision reports, health.

Bodies are parsed here (not by FastAPI's body binding) so that the order of checks is the safe
one: client authentication, then the service id (404), then the body (400), and so that every
validation error is a 400 with a specific message rather than FastAPI's 422.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from cds.service.audit import AuditSink, CardIssued, Feedback, HookCall, StoredReport
from cds.service.catalog import SERVICES_BY_ID, describe
from cds.service.engine import Engine
from cds.service.hooks import BadRequest, HookRunner, parse_context, validation_messages
from cds.service.models import CdsResponse, Discovery, FeedbackRequest, HookRequest
from cds.service.outcomes import operation_outcome, unauthorized
from cds.service.prefetch import DataUnavailable, PrefetchInvalid
from cds.service.reports import (
    is_report_id,
    render_report,
    report_not_found,
    report_page,
    report_url,
    with_report_link,
)
from cds.service.security import Authenticator
from cds.service.settings import Settings

log = logging.getLogger("cds.service")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid request (OperationOutcome names the field and the problem)"},
    401: {"description": "Missing or invalid client JWT (empty body)"},
    404: {"description": "Unknown service id or card uuid (OperationOutcome)"},
    413: {"description": "Request body over CDS_MAX_BODY_BYTES (OperationOutcome)"},
}


@dataclass(frozen=True)
class Deps:
    settings: Settings
    engine: Engine
    audit: AuditSink
    auth: Authenticator
    runner: HookRunner


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(["request body is not valid JSON"]) from None


def _public_base(settings: Settings, request: Request) -> str:
    """Where clients reach this service: the configured URL, else (auth off, local use) the request's."""
    return settings.public_base_url or str(request.base_url).rstrip("/")


async def _ruleset_version_or_unknown(engine: Engine) -> str:
    """For the audit record of a failed call: the version in force, if the ruleset loads at all."""
    try:
        return await run_in_threadpool(engine.ruleset_version)
    except Exception:
        return "unknown"


def build_router(deps: Deps) -> APIRouter:
    router = APIRouter()

    @router.get("/cds-services", response_model=Discovery, tags=["CDS Hooks"], summary="Discovery")
    async def discovery(request: Request) -> Response:
        if deps.settings.auth_discovery and not await deps.auth.check(
            request.headers.get("authorization"), "/cds-services"
        ):
            return unauthorized()
        version = await run_in_threadpool(deps.engine.ruleset_version)
        services = describe(version, deps.settings.profile)
        return _json(Discovery(services=services).to_json())

    @router.post(
        "/cds-services/{service_id}",
        response_model=CdsResponse,
        tags=["CDS Hooks"],
        summary="Call a CDS service (patient-view, order-select, order-sign)",
        responses={**_ERRORS, 412: {"description": "Required FHIR data could not be had (OperationOutcome)"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HookRequest"}}},
            }
        },
    )
    async def call_service(service_id: str, request: Request) -> Response:
        started = time.monotonic()
        if not await deps.auth.check(request.headers.get("authorization"), f"/cds-services/{service_id}"):
            return unauthorized()
        service = SERVICES_BY_ID.get(service_id)
        if service is None:
            return operation_outcome(404, f"no CDS service with id '{service_id}'")
        try:
            hook_request = HookRequest.model_validate(_body(await request.body()))
        except BadRequest as exc:
            return operation_outcome(400, exc.messages)
        except ValidationError as exc:
            return operation_outcome(400, validation_messages(exc))
        if hook_request.hook not in service.hooks:
            return operation_outcome(
                400,
                f"service '{service.id}' does not answer hook '{hook_request.hook}' "
                f"(it answers {', '.join(service.hooks)})",
            )

        patient_ref: str | None = None
        status = 500
        cards: list[CardIssued] = []
        version = ""
        report: StoredReport | None = None
        response: Response
        try:
            context = parse_context(hook_request)
            patient_ref = f"Patient/{context.patientId}"
            outcome = await deps.runner.run(service, hook_request, context)
            version = outcome.ruleset_version
            built = outcome.cards
            if built and outcome.evaluation is not None:
                # Stored with the call record below (one transaction), so it exists only if the call does.
                report = await run_in_threadpool(
                    render_report,
                    outcome.evaluation,
                    now=datetime.now(UTC),
                    ttl_hours=deps.settings.report_ttl_hours,
                )
                if report is not None:
                    built = with_report_link(
                        built, report_url(_public_base(deps.settings, request), report.report_id)
                    )
            cards = [CardIssued(c.card.uuid, c.rule_ids, c.card.indicator, c.card.summary) for c in built]
            response = _json({"cards": [c.card.to_json() for c in built]})
            status = 200
        except BadRequest as exc:
            status, response = 400, operation_outcome(400, exc.messages)
        except PrefetchInvalid as exc:
            status, response = 400, operation_outcome(400, str(exc))
        except DataUnavailable as exc:
            status = 412
            response = operation_outcome(
                412, [f"{q.key} ({q.what}): {reason}" for q, reason in exc.missing], code="incomplete"
            )
        except Exception as exc:
            # The message may quote patient data: log the type only, answer without a traceback.
            log.error(
                "hook call %s on %s failed: %s", hook_request.hookInstance, service.id, type(exc).__name__
            )
            status, response = 500, operation_outcome(500, "internal error; no advice was produced")

        if not version:
            version = await _ruleset_version_or_unknown(deps.engine)
        latency_ms = int((time.monotonic() - started) * 1000)
        record = HookCall(
            hook_instance=hook_request.hookInstance,
            service_id=service.id,
            hook=hook_request.hook,
            at=datetime.now(UTC),
            ruleset_version=version,
            patient_ref=patient_ref,
            cards=tuple(cards),
            latency_ms=latency_ms,
            status_code=status,
            report=report if status == 200 else None,
        )
        try:
            await run_in_threadpool(deps.audit.record_hook_call, record)
        except Exception as exc:
            log.error(
                "audit write failed for hook call %s: %s", hook_request.hookInstance, type(exc).__name__
            )
            if status == 200:
                # Advice that is not on the audit record is not issued.
                return operation_outcome(503, "audit store unavailable; no advice was issued")
        log.info(
            "hook call %s service=%s hook=%s status=%d cards=%d latency_ms=%d",
            hook_request.hookInstance,
            service.id,
            hook_request.hook,
            status,
            len(cards),
            latency_ms,
        )
        return response

    @router.post(
        "/cds-services/{service_id}/feedback",
        tags=["CDS Hooks"],
        summary="Feedback on cards (accepted / overridden)",
        responses={200: {"description": "Feedback stored (empty body)"}, **_ERRORS},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}},
            }
        },
    )
    async def feedback(service_id: str, request: Request) -> Response:
        path = f"/cds-services/{service_id}/feedback"
        if not await deps.auth.check(request.headers.get("authorization"), path):
            return unauthorized()
        if service_id not in SERVICES_BY_ID:
            return operation_outcome(404, f"no CDS service with id '{service_id}'")
        try:
            body = FeedbackRequest.model_validate(_body(await request.body()))
        except BadRequest as exc:
            return operation_outcome(400, exc.messages)
        except ValidationError as exc:
            return operation_outcome(400, validation_messages(exc))

        # All cards must be known to this service before anything is stored (no half-applied batch).
        for item in body.feedback:
            issuer = await run_in_threadpool(deps.audit.card_service, item.card)
            if issuer != service_id:
                return operation_outcome(404, f"card '{item.card}' was not issued by service '{service_id}'")
        received = datetime.now(UTC)
        for item in body.feedback:
            record = Feedback(
                service_id=service_id,
                card_uuid=item.card,
                outcome=item.outcome,
                accepted_suggestions=tuple(s.id for s in item.acceptedSuggestions or ()),
                override_reason=item.overrideReason.model_dump(mode="json", exclude_none=True)
                if item.overrideReason
                else None,
                outcome_timestamp=item.outcomeTimestamp,
                received_at=received,
            )
            try:
                await run_in_threadpool(deps.audit.record_feedback, record)
            except Exception as exc:
                log.error("audit write failed for feedback on %s: %s", service_id, type(exc).__name__)
                return operation_outcome(503, "audit store unavailable; feedback not stored")
        log.info("feedback service=%s items=%d", service_id, len(body.feedback))
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
        if not is_report_id(report_id):
            return report_not_found()
        try:
            html = await run_in_threadpool(deps.audit.get_report, report_id, datetime.now(UTC))
        except Exception as exc:
            log.error("report look-up failed: %s", type(exc).__name__)
            return operation_outcome(503, "audit store unavailable")
        if html is None:
            log.info("report fetch status=404")
            return report_not_found()
        log.info("report fetch status=200")
        return report_page(html)

    @router.get("/health", tags=["Operations"], summary="Liveness and ruleset version")
    async def health() -> Response:
        try:
            version = await run_in_threadpool(deps.engine.ruleset_version)
        except Exception as exc:
            log.error("health check: ruleset unavailable: %s", type(exc).__name__)
            return _json({"status": "unavailable"}, status=503)
        body: dict[str, Any] = {"status": "ok", "ruleset": version, "auth": deps.auth.enabled}
        if deps.settings.as_of is not None:
            body["asOf"] = deps.settings.as_of.isoformat()  # a pinned date must be visible to operators
        return _json(body)

    return router
