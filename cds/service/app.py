"""The CDS Hooks 2.0.1 service as a FastAPI application: `create_app(settings)`."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from cds._version import __version__
from cds.service.audit import AuditSink, StoreSink
from cds.service.engine import CoreEngine, Engine
from cds.service.hooks import HookRunner
from cds.service.limits import BodySizeLimit
from cds.service.models import FeedbackRequest, HookRequest
from cds.service.outcomes import operation_outcome, unauthorized
from cds.service.routes import Deps, build_router
from cds.service.security import Authenticator, Verifier, build_verifier
from cds.service.settings import Settings

log = logging.getLogger("cds.service")


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    audit: AuditSink | None = None,
    verifier: Verifier | None = None,
    fhir_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the service. The keyword arguments replace the real engine, audit store, JWT verifier
    or HTTP transport (tests); by default they come from `settings`.
    """
    settings.check()
    if audit is None:
        sink = StoreSink.open(settings.database_url)
        audit = sink
        if settings.auth and verifier is None:
            verifier = build_verifier(settings, sink.replay_cache())
    if settings.auth and verifier is None:
        raise ValueError("authentication is on but no JWT verifier was given")
    if not settings.auth:
        verifier = None
        log.warning(
            "CDS_AUTH=off: client JWTs are NOT verified; any caller can request advice and post feedback. "
            "Use only for local testing."
        )

    if settings.as_of is not None:
        log.warning(
            "CDS_AS_OF=%s: every assessment is made as of this date, not today. "
            "Use only for demonstrations and replays of fixed records.",
            settings.as_of.isoformat(),
        )

    engine = engine or CoreEngine(as_of=settings.as_of)
    deps = Deps(
        settings=settings,
        engine=engine,
        audit=audit,
        auth=Authenticator(verifier, settings.public_base_url),
        runner=HookRunner(settings, engine, fhir_transport),
    )
    app = FastAPI(
        title="ketamine-cds CDS Hooks service",
        version=__version__,
        description="CDS Hooks 2.0.1 services for ketamine and esketamine in treatment-resistant depression.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.include_router(build_router(deps))
    _install_error_handlers(app)
    _install_openapi(app)
    # Middleware added last runs first: CORS outermost so that a 413 still reaches a browser client.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn (`cds.service.app:app_from_env`, factory=True): one app per worker."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return create_app(Settings.from_env())


def _install_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 401:
            return unauthorized()
        return operation_outcome(exc.status_code, str(exc.detail))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return operation_outcome(400, [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()])

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s: %s", request.url.path, type(exc).__name__)
        return operation_outcome(500, "internal error")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)


def _install_openapi(app: FastAPI) -> None:
    """Request bodies are parsed by hand (see routes.py); publish their schemas for /docs anyway."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = default()
        _, defs = models_json_schema(
            [(HookRequest, "validation"), (FeedbackRequest, "validation")],
            ref_template="#/components/schemas/{model}",
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
